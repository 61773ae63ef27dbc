"""Models that lie, break or hang: the safety floor, malformed replies, the circuit breaker."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faults import (
    INJECTION,
    camera_args,
    final_call,
    hostile,
    normal_counts,
    parse_alerts,
    vigil_run,
)
from helpers import FakeOpenAI, chat_reply, synth_video

from vigil.core.llm import CircuitBreaker


@pytest.mark.parametrize("mode", ["drop", "suppress"])
def test_a_hostile_model_cannot_silence_a_confident_fall(mode: str, synth_small: Path, data: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # the file name carries an instruction too: it must reach the model only as data
    video = tmp_path / f"{INJECTION}.mp4"
    shutil.copy(synth_video(synth_small, "falling"), video)
    normal_before = normal_counts(data)
    server = FakeOpenAI(hostile(mode))
    try:
        code, out, err = vigil_run(capsys, *camera_args(synth_small, data), "watch", str(video), "--camera", "plaza", "--json",
                                "--llm-url", server.url, "--llm-model", "fake")
    finally:
        server.close()
    assert code == 0, err
    falls = [a for a in parse_alerts(out) if a.event_type == "falling"]
    assert falls, "the model silenced a fall the rules were sure of"
    assert falls[0].model_disagreed and falls[0].model_reason and falls[0].confidence >= 0.8
    # the model's verdict was not learned as normal: a later rules-only run keeps alerting
    assert normal_counts(data) == normal_before
    from perception.profile import CameraProfile
    from vigil.core.memory import PatternMemory

    dim = CameraProfile.load(data / "plaza" / "profile").scorer.vector_scale.size
    patterns = PatternMemory(data / "chroma").similar_patterns(np.ones(dim, np.float32), camera_id="plaza", k=50)
    assert all(p["verdict"] != "normal" for p in patterns)
    # untrusted text (the file name, the model's own earlier replies) never sits in instructions
    assert server.requests
    for req in server.requests:
        for m in req["messages"]:
            if m["role"] in ("system", "user") and isinstance(m.get("content"), str):
                assert INJECTION not in m["content"], m["content"][:200]
    tool_texts = [m["content"] for r in server.requests for m in r["messages"] if m["role"] == "tool"]
    assert any(INJECTION in t for t in tool_texts)
    assert all(json.loads(t) is not None for t in tool_texts)  # whole, escaped JSON


@pytest.mark.parametrize("body", ["<html><body>502 Bad Gateway</body></html>", {"hello": "world"},
                                  {"choices": [{"message": "not a message"}]}, {"choices": None}])
def test_a_200_that_is_no_completion_falls_back_to_rules(body: Any, synth_small: Path, data: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    server = FakeOpenAI(lambda req: (200, body))
    try:
        code, out, err = vigil_run(capsys, *camera_args(synth_small, data), "watch", synth_video(synth_small, "falling"), "--camera",
                                "plaza", "--json", "--llm-url", server.url, "--llm-model", "fake")
        a_code, a_out, a_err = vigil_run(capsys, *camera_args(synth_small, data), "ask", "When did someone fall?", "--camera",
                                      "plaza", "--json", "--llm-url", server.url, "--llm-model", "fake")
    finally:
        server.close()
    assert code == 3 and "Traceback" not in err
    alerts = parse_alerts(out)
    assert alerts and all(a.explained_by == "rules" for a in alerts)
    warnings = [line for line in err.splitlines() if line.startswith("vigil: warning:")]
    assert len(warnings) == 1 and "malformed reply" in warnings[0]
    assert a_code == 3 and "Traceback" not in a_err and json.loads(a_out)["found"]


def test_a_hanging_endpoint_is_asked_once_then_left_alone(synth_small: Path, data: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIGIL_LLM_TIMEOUT", "0.5")
    server = FakeOpenAI(lambda req: (200, chat_reply(content="late")), delay_s=5.0)  # /models answers, chat hangs
    try:
        code, out, err = vigil_run(capsys, *camera_args(synth_small, data), "watch", synth_video(synth_small, "falling"),
                                synth_video(synth_small, "fighting"), "--camera", "plaza", "--json",
                                "--llm-url", server.url, "--llm-model", "fake")
    finally:
        server.close()
    assert code == 3 and "falling" in {a.event_type for a in parse_alerts(out)}  # judged by the rules, not lost
    assert len(server.requests) == 1, f"the endpoint was asked {len(server.requests)} times after it failed"
    assert "skipped while it was marked down" in err


def test_the_breaker_reprobes_after_its_pause() -> None:
    now = [0.0]
    breaker = CircuitBreaker(retry_after_s=60, clock=lambda: now[0])
    assert breaker.allow()
    breaker.failure("cannot connect")
    assert not breaker.allow()
    now[0] = 61.0
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.success()
    assert breaker.allow() and not breaker.down


def test_frames_keep_being_read_while_the_model_thinks(synth_small: Path, data: Path) -> None:
    """The decoder and scorer reach the end of the video while the model is still answering."""
    from agents.graph import AlertGraph
    from agents.watch import Watcher
    from perception.profile import CameraProfile
    from vigil.core.config import Endpoint, load_settings
    from vigil.core.llm import OpenAIChat
    from vigil.core.store import DataDir

    release = threading.Event()
    asked = threading.Event()

    def respond(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        asked.set()
        release.wait(60)
        return 200, final_call({"escalate": True, "reason": "sustained"})

    server = FakeOpenAI(respond)
    reached: list[float] = []
    video = synth_video(synth_small, "falling")
    try:
        camera = load_settings(synth_small / "vigil.yaml", environ={}).camera("plaza")
        dd = DataDir(data)
        graph = AlertGraph(OpenAIChat(Endpoint(url=server.url, model="fake", timeout_s=90)), data / "ckpt.db")
        with dd.open_store() as store:
            watcher = Watcher("plaza", camera, CameraProfile.load(data / "plaza" / "profile", "plaza"), dd, store, graph)
            thread = threading.Thread(target=lambda: watcher.watch(video, progress=reached.append), daemon=True)
            thread.start()
            assert asked.wait(60), "no decision asked the model"
            deadline = time.monotonic() + 60
            while (not reached or reached[-1] < 35.0) and time.monotonic() < deadline:
                time.sleep(0.1)
            stalled_at = reached[-1] if reached else 0.0
            release.set()
            thread.join(120)
        graph.close()
    finally:
        release.set()
        server.close()
    assert stalled_at >= 35.0, f"frame reading stopped at {stalled_at:.1f} s while the model was answering"
