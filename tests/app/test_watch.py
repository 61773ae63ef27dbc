"""vigil watch end to end: explained alerts, restarts, webhooks, models that fail."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import FakeOpenAI, chat_reply

from eval.alerts import evaluate_alerts
from perception.source.video import open_video
from vigil.cli import main
from vigil.core.schemas import Alert, load_ground_truth
from vigil.core.store import Store


@pytest.fixture(scope="module")
def watched(synth_small: Path, fitted_camera: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every test video watched once with the rule policy (its own data dir, the fitted profile)."""
    data = tmp_path_factory.mktemp("watch-data")
    shutil.copytree(fitted_camera[0] / "plaza" / "profile", data / "plaza" / "profile")
    config = str(synth_small / "vigil.yaml")
    tests = sorted(str(p) for p in (synth_small / "test").glob("*.mp4"))
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--config", config, "--data-dir", str(data), "watch", *tests, "--camera", "plaza", "--json"])
    return {"data": data, "config": config, "tests": tests, "code": code,
            "alerts": [Alert.model_validate_json(line) for line in out.getvalue().splitlines() if line.strip()]}


def _argv(w: dict[str, Any], *rest: str) -> list[str]:
    return ["--config", w["config"], "--data-dir", str(w["data"]), *rest]


def test_alerts_are_found_typed_and_explained(watched: dict[str, Any], synth_small: Path) -> None:
    assert watched["code"] == 0
    alerts = watched["alerts"]
    truth = load_ground_truth(synth_small / "gt.json")
    report = evaluate_alerts(truth, [a.model_dump() for a in alerts])
    assert report.recall >= 0.85 and report.precision >= 0.85
    assert report.alerts_on_normal_videos == 0
    assert report.type_accuracy >= 0.5 and report.onset_within_2s >= 0.7
    for a in alerts:
        assert a.explained_by == "rules"
        assert all(Path(k).is_file() for k in a.keyframes) and len(a.keyframes) >= 4
        assert a.explanation.what and "s" in a.explanation.when and a.explanation.where and a.explanation.why
        assert 0 <= a.region.x1 < a.region.x2 <= 1
        with open_video(a.source, fps=1000, width=160) as video:
            length = video.info.duration_s
        with open_video(a.clip, fps=1000, width=160) as clip:  # the clip plays and spans the event +-2 s
            want = min(a.end_s + 2.0, length) - max(a.start_s - 2.0, 0.0)  # within the video
            assert clip.info.duration_s == pytest.approx(want, abs=1.5)


def test_restarted_watch_neither_loses_nor_duplicates(watched: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with Store(watched["data"] / "vigil.db") as store:
        before = store.alerts("plaza")
    anomalous = [t for t in watched["tests"] if "normal" not in t][:3]
    assert main(_argv(watched, "watch", *anomalous, "--camera", "plaza", "--json")) == 0
    assert capsys.readouterr().out.strip() == ""  # nothing new to report
    with Store(watched["data"] / "vigil.db") as store:
        assert store.alerts("plaza") == before


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first:
            _Hook.fail_first = False
            self.send_response(503)
        else:
            _Hook.received.append(body)
            self.send_response(200)
        self.end_headers()


def test_webhook_gets_each_new_alert_after_a_retry(synth_small: Path, fitted_camera: tuple[Path, Path], tmp_path: Path) -> None:
    shutil.copytree(fitted_camera[0] / "plaza" / "profile", tmp_path / "plaza" / "profile")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        video = str(next((synth_small / "test").glob("*_intrusion.mp4")))
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        argv = ["--config", str(synth_small / "vigil.yaml"), "--data-dir", str(tmp_path), "watch", video,
                "--camera", "plaza", "--webhook", url]
        assert main(argv) == 0
    finally:
        server.shutdown()
    assert len(_Hook.received) >= 1 and _Hook.received[0]["camera_id"] == "plaza"
    with Store(tmp_path / "vigil.db") as store:
        assert {d["status"] for d in store.deliveries(url)} == {"delivered"}


def _llm_watch(w: dict[str, Any], video: str, url: str, tmp: Path, *extra: str) -> tuple[int, list[Alert]]:
    import contextlib
    import io

    shutil.copytree(w["data"] / "plaza" / "profile", tmp / "plaza" / "profile")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--config", w["config"], "--data-dir", str(tmp), "watch", video, "--camera", "plaza", "--json",
                     "--llm-url", url, "--llm-model", "fake", *extra])
    return code, [Alert.model_validate_json(line) for line in out.getvalue().splitlines() if line.strip()]


def test_llm_endpoint_down_still_alerts_by_rules(watched: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = next(t for t in watched["tests"] if t.endswith("_falling.mp4"))
    code, alerts = _llm_watch(watched, video, "http://127.0.0.1:9/v1", tmp_path)
    err = capsys.readouterr().err
    assert code == 3 and "vigil: warning: LLM endpoint http://127.0.0.1:9/v1 is unreachable" in err
    assert alerts and all(a.explained_by == "rules" for a in alerts)


def test_llm_garbage_falls_back_and_slow_llm_times_out(watched: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    video = next(t for t in watched["tests"] if t.endswith("_falling.mp4"))
    garbage = FakeOpenAI(lambda req: (200, chat_reply(content="{not json at all")))
    try:
        code, alerts = _llm_watch(watched, video, garbage.url, tmp_path / "a")
    finally:
        garbage.close()
    assert code == 0 and alerts and all(a.explained_by == "rules" for a in alerts)
    assert len(garbage.requests) >= 2  # asked, and asked again once
    monkeypatch.setenv("VIGIL_LLM_TIMEOUT", "0.5")
    slow = FakeOpenAI(lambda req: (200, chat_reply(content="late")), delay_s=3.0)
    try:
        code, alerts = _llm_watch(watched, video, slow.url, tmp_path / "b")
    finally:
        slow.close()
    assert code == 3 and "failed" in capsys.readouterr().err
    assert alerts and all(a.explained_by == "rules" for a in alerts)


def test_no_llm_calls_on_normal_footage(watched: dict[str, Any], tmp_path: Path) -> None:
    server = FakeOpenAI(lambda req: (200, chat_reply(content="{}")))
    try:
        for i, video in enumerate(t for t in watched["tests"] if t.endswith("_normal.mp4")):
            code, alerts = _llm_watch(watched, video, server.url, tmp_path / str(i))
            assert code == 0 and alerts == []
    finally:
        server.close()
    assert server.requests == []


def test_a_model_that_uses_tools_writes_the_alert(watched: dict[str, Any], tmp_path: Path) -> None:
    """An OpenAI-compatible server that answers with tool calls drives all three agents."""
    def respond(req: dict) -> tuple[int, dict]:
        names = [t["function"]["name"] for t in req.get("tools", [])]
        system = req["messages"][0]["content"]
        if system.startswith("You are the Observer"):
            args = {"escalate": True, "reason": "sustained"}
        elif system.startswith("You are the Analyst"):
            done = any(m.get("role") == "tool" for m in req["messages"])
            if not done:
                return 200, chat_reply(tool_calls=[{"id": "c1", "type": "function",
                                                    "function": {"name": "classify", "arguments": "{}"}}])
            args = {"proposed_type": "falling", "confidence": 0.9, "evidence": "a person went down", "continuous": True}
        else:
            args = {"verdict": "alert", "event_type": "falling", "confidence": 0.88,
                    "explanation": {"what": "Someone fell and did not get up.", "when": "Around the middle of the clip.",
                                    "where": "Centre of the frame.", "why": "People here walk through."}}
        assert "final_answer" in names
        return 200, chat_reply(tool_calls=[{"id": "c2", "type": "function",
                                            "function": {"name": "final_answer", "arguments": json.dumps(args)}}])

    server = FakeOpenAI(respond)
    try:
        video = next(t for t in watched["tests"] if t.endswith("_falling.mp4"))
        code, alerts = _llm_watch(watched, video, server.url, tmp_path)
    finally:
        server.close()
    assert code == 0 and alerts
    falling = [a for a in alerts if a.event_type == "falling"]
    assert falling and falling[0].explained_by == "llm:fake"
    assert falling[0].explanation.what == "Someone fell and did not get up."


@pytest.mark.parametrize("clip", ["car_accident.mp4", "earthquake.mp4", "robbery.mp4"])
def test_watch_completes_on_the_real_clips(shared_videos: Path, watched: dict[str, Any], clip: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(watched["data"] / "plaza" / "profile", tmp_path / "plaza" / "profile")
    code = main(["--config", watched["config"], "--data-dir", str(tmp_path), "watch", str(shared_videos / clip),
                 "--camera", "plaza", "--json"])
    assert code == 0
    for line in capsys.readouterr().out.splitlines():
        Alert.model_validate_json(line)


def test_an_event_reaching_back_to_a_loiterers_arrival_still_gets_its_wait_for_the_rules() -> None:
    from agents.watch import WatchOptions, wait_over

    wait = WatchOptions().max_wait_s
    # a loitering event first seen at 130 s reaches back to the arrival at 10 s: 120 s before
    assert not wait_over(131.0, 10.0, 130.0, wait)  # the rules still get their recheck
    assert wait_over(130.0 + wait, 10.0, 130.0, wait)
    # an event seen as it began waits from its onset; the remainder of one judged before from its own start
    assert wait_over(20.0 + wait, 20.0, None, wait) and not wait_over(19.0 + wait, 20.0, 15.0, wait)
