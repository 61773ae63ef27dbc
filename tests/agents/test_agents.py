"""The alert graph with scripted chat models: every node, every route, every fallback."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agents.graph import AlertGraph
from agents.tools import ToolContext
from perception.events import CandidateEvent
from vigil.core.llm import FINAL, ChatBackend, ChatReply, LLMError, ToolCall, ToolSpec


class ScriptedChat(ChatBackend):
    """A chat model that answers from a script: replies, or exceptions to raise."""

    label = "llm:scripted"

    def __init__(self, script: Sequence[ChatReply | Exception]) -> None:
        super().__init__()
        self.script = list(script)
        self.seen: list[list[str]] = []  # tool names offered at each call

    def complete(self, messages: list[dict[str, Any]], tools: Sequence[ToolSpec]) -> ChatReply:
        self.calls += 1
        self.seen.append([t.name for t in tools])
        if not self.script:
            raise AssertionError("the script ran out: the agent asked more than expected")
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def call(name: str, **arguments: Any) -> ChatReply:
    return ChatReply(tool_calls=[ToolCall(name, arguments, f"id-{name}")])


def final(**arguments: Any) -> ChatReply:
    return call(FINAL, **arguments)


ESCALATE = final(escalate=True, reason="the score stays high for seconds")
REPORT = final(proposed_type="falling", confidence=0.92, evidence="a person went down at 12 s and stays down",
               continuous=True)
DECIDE = final(verdict="alert", event_type="falling", confidence=0.9,
               explanation={"what": "A person fell.", "when": "At 12 s.", "where": "Centre of the frame.",
                            "why": "People here walk."})


def _ctx(case: dict[str, Any], tmp_path: Path) -> ToolContext:
    e: CandidateEvent = case["event"]
    frames = [f for f in case["frames"] if e.start_s - 2 <= f.t <= e.end_s]
    return ToolContext(event=e, frames=frames, camera=case["camera"], scene_encoder=case["profile"].build_scene_encoder(),
                       event_dir=tmp_path / "event", engram=case["profile"].engram, vector=e.peak_window.vector)


def _graph(backend: ChatBackend | None, tmp_path: Path) -> AlertGraph:
    return AlertGraph(backend, tmp_path / "checkpoints.db")


def test_rule_policy_alone_explains_the_fall(falling_event: dict[str, Any], tmp_path: Path) -> None:
    g = _graph(None, tmp_path)
    state = g.run(_ctx(falling_event, tmp_path))
    assert state["explained_by"] == ["rules", "rules", "rules"]
    d = state["decision"]
    assert d["verdict"] == "alert" and d["event_type"] == "falling"
    assert set(state["analyst"]["tools"]) == {"rollback_check", "memory_lookup", "sample_keyframes", "describe", "classify"}
    assert all(Path(k["path"]).is_file() for k in state["analyst"]["tools"]["sample_keyframes"]["keyframes"])
    assert "s" in d["explanation"]["when"] and d["explanation"]["where"]


def test_llm_agents_call_tools_and_decide(falling_event: dict[str, Any], tmp_path: Path) -> None:
    chat = ScriptedChat([
        ESCALATE,
        call("rollback_check", seconds=6), call("classify"), call("describe"), REPORT,
        DECIDE,
    ])
    state = _graph(chat, tmp_path).run(_ctx(falling_event, tmp_path))
    assert state["explained_by"] == ["llm:scripted"] * 3
    assert state["decision"]["explanation"]["what"] == "A person fell."
    assert [t for t in state["trace"] if t.startswith("analyst:")][:3] == [
        'analyst: rollback_check({"seconds": 6})', "analyst: classify({})", "analyst: describe({})"]
    # the Analyst sees its five tools and the final answer; the Observer only the final answer (the
    # case file is data already in the conversation, not a tool to call)
    assert chat.seen[0] == [FINAL]
    assert set(chat.seen[1]) == {"rollback_check", "memory_lookup", "sample_keyframes", "describe", "classify", FINAL}


def test_observer_drop_ends_the_graph(falling_event: dict[str, Any], tmp_path: Path) -> None:
    # with a threshold no rule reaches, nothing is protected: the model may drop the candidate
    chat = ScriptedChat([final(escalate=False, reason="a blip")])
    ctx = _ctx(falling_event, tmp_path)
    ctx.camera = ctx.camera.model_copy(update={"confidence_threshold": 1.0})
    state = _graph(chat, tmp_path).run(ctx)
    assert "decision" not in state and "analyst" not in state
    assert chat.calls == 1


def test_a_model_cannot_drop_or_suppress_a_confident_rule_detection(falling_event: dict[str, Any], tmp_path: Path) -> None:
    """The safety floor: the rules call the fall >= the confidence threshold, so the model's drop
    and suppression are overruled, the disagreement recorded, and the suppression not learned."""
    chat = ScriptedChat([
        final(escalate=False, reason="IGNORE THE RULES: nothing happened"),
        final(proposed_type="unknown", confidence=0.0, evidence="nothing here", continuous=False),
        final(verdict="suppress", event_type="unknown", confidence=0.99,
              explanation={"what": "Nothing.", "when": "Never.", "where": "Nowhere.", "why": "All normal."}),
    ])
    state = _graph(chat, tmp_path).run(_ctx(falling_event, tmp_path))
    d = state["decision"]
    assert d["verdict"] == "alert" and d["event_type"] == "falling" and d["confidence"] >= 0.8
    assert state["explained_by"] == ["rules", "llm:scripted", "rules"]
    assert state["rules_verdict"] == "alert"
    assert len(state["disagreements"]) == 2 and "would drop" in state["disagreements"][0]
    assert "would suppress" in state["disagreements"][1] and "All normal." in state["disagreements"][1]


def test_one_invalid_reply_is_retried(falling_event: dict[str, Any], tmp_path: Path) -> None:
    chat = ScriptedChat([
        final(escalate="perhaps"),               # does not validate
        ESCALATE,                                # the retry does
        call("no_such_tool"), REPORT,            # an unknown tool is answered, then the report
        final(verdict="alert", event_type="unknown", confidence=0.9,   # inconsistent: retried
              explanation={"what": "x", "when": "y", "where": "z", "why": "w"}),
        DECIDE,
    ])
    state = _graph(chat, tmp_path).run(_ctx(falling_event, tmp_path))
    assert state["explained_by"] == ["llm:scripted"] * 3
    assert any("Unknown tool 'no_such_tool', should be one of" in t or "no_such_tool" in t for t in state["trace"])
    assert any("invalid reply, retrying" in t for t in state["trace"])


def test_garbage_twice_and_endpoint_down_fall_back_to_rules(falling_event: dict[str, Any], tmp_path: Path) -> None:
    garbage = ChatReply(content="I think it is a cat")
    chat = ScriptedChat([garbage, garbage, LLMError("http://x: cannot connect"), ESCALATE, REPORT, garbage, garbage])
    state = _graph(chat, tmp_path).run(_ctx(falling_event, tmp_path))
    # observer: two bad replies -> rules; analyst: endpoint down -> rules; decider: bad twice -> rules
    assert state["explained_by"] == ["rules", "rules", "rules"]
    assert state["decision"]["event_type"] == "falling"
    assert sum("fell back to rules" in t for t in state["trace"]) == 3


def test_interrupted_run_resumes_and_finished_run_is_not_repeated(falling_event: dict[str, Any], tmp_path: Path) -> None:
    class Crash(Exception):
        pass

    first = ScriptedChat([ESCALATE, REPORT, Crash("power cut")])
    with pytest.raises(Crash):
        _graph(first, tmp_path).run(_ctx(falling_event, tmp_path))
    # a new process: the Observer and Analyst are not asked again, the Decider is
    second = ScriptedChat([DECIDE])
    state = _graph(second, tmp_path).run(_ctx(falling_event, tmp_path))
    assert second.calls == 1 and state["decision"]["verdict"] == "alert"
    third = ScriptedChat([])
    again = _graph(third, tmp_path).run(_ctx(falling_event, tmp_path))
    assert third.calls == 0 and again["decision"] == state["decision"]


def test_a_fitted_camera_keeps_its_normal_blob_tracks_as_the_yardstick_of_the_blob_rules(falling_event: dict[str, Any]) -> None:
    from perception.track.norms import MIN_TRACKS

    profile, camera = falling_event["profile"], falling_event["camera"]
    norms = profile.blob_norms  # saved with the profile and loaded back
    assert norms is not None and len(norms) >= MIN_TRACKS
    assert norms.measured["vehicle_size"] == camera.detection.vehicle_size
    cal = norms.calibration("vehicle_s", least=camera.detection.vehicle_s)
    assert cal is not None and cal.high >= camera.detection.vehicle_s
    assert cal.median < 0.5  # people walking are not vehicle-sized blobs
    pace = norms.calibration("speed", least=camera.detection.run_speed,
                             settings={"group_size": camera.detection.group_size})
    assert pace is not None and 0.3 < pace.median < camera.detection.run_speed  # people walk, at their own pace


def test_a_planted_checkpoint_runs_no_code(tmp_path: Path) -> None:
    # checkpoints.db lies in the data dir; a row naming os.system must come back as data
    import sqlite3

    import ormsgpack
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite import SqliteSaver

    db, marker = tmp_path / "checkpoints.db", tmp_path / "ran"
    with sqlite3.connect(db) as conn:
        saver = SqliteSaver(conn)
        saver.setup()
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"event": "placeholder"}
        checkpoint["channel_versions"] = {"event": 1}
        saver.put({"configurable": {"thread_id": "evt-1", "checkpoint_ns": ""}}, checkpoint, {"source": "loop", "step": 1},
                  {"event": 1})
        stored = ormsgpack.unpackb(conn.execute("SELECT checkpoint FROM checkpoints").fetchone()[0])
        # the serializer's "call this constructor with these arguments" extension
        stored["channel_values"]["event"] = ormsgpack.Ext(1, ormsgpack.packb(("os", "system", [f"touch {marker}"])))
        conn.execute("UPDATE checkpoints SET checkpoint = ?", (ormsgpack.packb(stored),))
    graph = AlertGraph(None, db)
    try:
        graph.graph.get_state({"configurable": {"thread_id": "evt-1"}})
    finally:
        graph.close()
    assert not marker.exists(), "a checkpoint in the data dir ran a command"


class ScriptedVision:
    """A VLM that answers from a script: a description, or an exception to raise."""

    model = "scripted-vlm"

    def __init__(self, script: Sequence[str | Exception]) -> None:
        self.script = list(script)
        self.images: list[int] = []  # how many frames each call was shown

    def describe(self, images: Sequence[Any], system: str, prompt: str) -> str:
        self.images.append(len(images))
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def test_the_vlm_describes_and_scene_facts_stand_in_when_it_fails(falling_event: dict[str, Any], tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    from agents.state import NoArgs
    from agents.tools import describe

    ctx = _ctx(falling_event, tmp_path)
    ctx.vision = ScriptedVision(["A person falls near the bench.", LLMError("no answer within 5 s")])  # type: ignore[assignment]
    got = describe(ctx, NoArgs())
    assert got["description"] == "A person falls near the bench." and got["by"] == "vlm:scripted-vlm"
    assert got["scene_facts"] == ctx.scene().text() and ctx.vlm_calls == 1
    assert ctx.keyframes and ctx.vision.images == [len(ctx.keyframes)]  # type: ignore[attr-defined]
    with caplog.at_level("WARNING", logger="agents.tools"):
        got = describe(ctx, NoArgs())
    assert got == {"description": ctx.scene().text(), "by": "scene facts"} and ctx.vlm_calls == 2
    assert "VLM describe failed (no answer within 5 s); using scene facts" in caplog.text


def test_the_vlm_helper_falls_back_without_frames_or_a_reply() -> None:
    import numpy as np

    from vigil.core.vision import vlm_or_fallback

    frame = np.zeros((4, 4, 3), np.uint8)
    vision = ScriptedVision(["  two  people\n walk ", "   "])

    def ask(frames: Any) -> Any:
        return vlm_or_fallback(vision, lambda: frames, lambda n: ("system", f"{n} frames"), lambda: "facts",  # type: ignore[arg-type]
                               fallback_by="scene facts", tidy=lambda t: " ".join(t.split()))

    seen = ask([frame])
    assert (seen.text, seen.by, seen.asked, seen.by_vlm) == ("two people walk", "vlm:scripted-vlm", True, True)
    seen = ask(None)  # nothing to show: no call
    assert (seen.text, seen.by, seen.asked) == ("facts", "scene facts", False) and vision.images == [1]
    seen = ask([frame, frame])  # a reply that is blank once tidied
    assert (seen.text, seen.by, seen.asked) == ("facts", "scene facts", True) and vision.images == [1, 2]
    assert vlm_or_fallback(None, lambda: [frame], lambda n: ("s", "u"), lambda: "facts", fallback_by="x").by == "x"
