"""Questions about footage: the question parser, the ask graph, vigil ask / eval ask / bench --ask."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_agents import ScriptedChat, call, final

from agents.ask import AskContext, AskGraph, AskScope, parse_bound, resolve_scope, roles
from agents.question import parse_question
from eval.ask import QUESTIONS_FILE, AskQuestion, Footage, judge, load_questions
from vigil.cli import main
from vigil.core.errors import DataError, VigilError
from vigil.core.llm import ChatReply, LLMError
from vigil.core.memory import HashingTextEmbedder, PatternMemory
from vigil.core.schemas import load_ground_truth
from vigil.core.store import Store

# ----------------------------------------------------------------------------- the rule parser


@pytest.mark.parametrize(
    "question, kind, types",
    [
        ("When did a person fall?", "when", ["falling"]),
        ("Did anyone collapse?", "whether", ["falling"]),
        ("Was there a brawl near the exit?", "whether", ["fighting"]),
        ("How many people sprinted?", "count", ["running"]),
        ("Which cameras saw a truck?", "which_cameras", ["vehicle"]),
        ("Was a suitcase left unattended?", "whether", ["abandoned_object"]),
        ("Did anyone trespass into the restricted area?", "whether", ["intrusion"]),
        ("Who was hanging around the kiosk?", "when", ["loitering"]),
        ("What happened between 15 and 30 seconds?", "what", []),
        ("Any anomalies?", "whether", []),
    ],
)
def test_rule_parser_reads_kind_and_type_synonyms(question: str, kind: str, types: list[str]) -> None:
    plan = parse_question(question)
    assert plan.kind == kind
    assert plan.event_types == types
    assert plan.any_anomaly == (not types)


@pytest.mark.parametrize(
    "question, fields",
    [
        ("Did anyone fall in the first minute?", {"time_from": 0.0, "time_to": 60.0}),
        ("Did anyone run in the first 30 seconds?", {"time_from": 0.0, "time_to": 30.0}),
        ("Anything unusual in the last 25 s?", {"last_s": 25.0}),
        ("Did someone fall between 10 and 20 seconds?", {"time_from": 10.0, "time_to": 20.0}),
        ("Did anyone fall after 2 minutes?", {"time_from": 120.0}),
        ("Was there a fight after 3 pm?", {"clock_from": "15:00", "clock_to": None}),
        ("Any intrusion before 7:30 am?", {"clock_to": "07:30"}),
        ("Any alerts between 11pm and 12:15 am?", {"clock_from": "23:00", "clock_to": "00:15"}),
    ],
)
def test_rule_parser_reads_time_expressions(question: str, fields: dict[str, Any]) -> None:
    plan = parse_question(question)
    for key, value in fields.items():
        assert getattr(plan, key) == value, key


def test_rule_parser_names_cameras_only_when_called_cameras() -> None:
    cams = ["plaza", "north", "south", "lobby"]
    assert parse_question("When did a car drive onto the plaza?", cams).cameras == []
    assert parse_question("How many falls on camera north?", cams).cameras == ["north"]
    assert sorted(parse_question("Did cameras north and south see a fight?", cams).cameras) == ["north", "south"]
    assert parse_question("Did the lobby camera see a fight?", cams).cameras == ["lobby"]


def test_rule_parser_flags_activities_it_has_no_type_for() -> None:
    plan = parse_question("Did anyone swim in the fountain?")
    assert plan.unknown_words == ["swim"] and not plan.event_types and not plan.any_anomaly


@pytest.mark.parametrize(("question", "unknown"), [
    ("Was there a fire?", ["fire"]),                        # not the fire hydrant the detector names
    ("Did a helicopter land here?", ["helicopter"]),
    ("Was there a robbery, or did someone fall?", ["robbery"]),
    ("Did someone steal a bike?", ["steal"]),              # the bike is still looked for
    ("Is there a fire hydrant?", []),
    ("When did someone start running near the kiosk?", []),
    ("How many people crossed after 10 s?", []),
    ("Did someone in a red jacket run?", []),
])
def test_what_a_question_asks_about_is_unrecognised_only_when_vigil_has_no_word_for_it(question: str,
                                                                                         unknown: list[str]) -> None:
    assert parse_question(question).unknown_words == unknown


@pytest.mark.parametrize(("question", "objects", "types"), [
    ("Did anyone ride a bike?", ["bicycle"], []),
    ("When was a lorry here?", ["truck"], []),
    ("How many people crossed after 10 s?", ["person"], []),
    ("Was there a dog or a cat?", ["dog", "cat"], []),
    ("Is there a fire hydrant?", ["fire hydrant"], []),
    ("Was there a vehicle on the walkway?", ["wheeled"], ["vehicle"]),
    ("Did anyone fall down?", [], ["falling"]),
])
def test_rule_parser_reads_what_the_detector_names(question: str, objects: list[str], types: list[str]) -> None:
    plan = parse_question(question)
    assert plan.objects == objects and plan.event_types == types and not plan.unknown_words and plan.understood


def test_tracked_objects_answer_object_questions_with_their_intervals(store: Store) -> None:
    base = {"group": "wheeled", "speed": 2.5, "speed_high": 3.0, "confidence": 0.6, "detections": 9, "box": [0.1, 0.5, 0.2, 0.7]}
    tracks = [{**base, "track_id": 3, "label": "bicycle", "start_s": 14.0, "end_s": 22.5},
              {**base, "track_id": 4, "label": "person", "group": "person", "start_s": 2.0, "end_s": 9.0}]
    assert store.replace_tracks("north", "/v/a.mp4", tracks) == 2
    assert store.replace_tracks("north", "/v/a.mp4", tracks) == 2  # a rescan replaces, never duplicates
    answer, _ = _ask(store, "Did anyone ride a bike? When?")
    assert answer.found and answer.intervals == [(14.0, 22.5)]
    assert answer.citations[0].object == "bicycle" and answer.citations[0].track_id == 3
    answer, _ = _ask(store, "Was there a vehicle on camera north?")  # its alert answers
    assert answer.found and answer.intervals == [(40.0, 45.0)]
    store.replace_tracks("south", "/v/c.mp4", [{**base, "track_id": 1, "label": "car", "start_s": 30.0, "end_s": 33.0}])
    answer, _ = _ask(store, "Was there a vehicle on camera south?")  # no alert: the car it tracked does
    assert answer.found and answer.intervals == [(30.0, 33.0)] and answer.citations[0].object == "car"
    answer, _ = _ask(store, "Was there a dog?")
    assert not answer.found and not answer.unrecognised  # looked among the tracked objects, none
    answer, _ = _ask(store, "How many people were there before 5 s?")
    assert answer.found and answer.intervals == [(2.0, 9.0)]


def test_since_until_bounds() -> None:
    assert parse_bound("90", "--since") == {"time_from": 90.0}
    assert parse_bound("1m30s", "--until") == {"time_to": 90.0}
    assert parse_bound("3pm", "--since") == {"clock_from": "15:00"}
    assert parse_bound("15:45", "--until") == {"clock_to": "15:45"}
    with pytest.raises(VigilError, match="--since soon: expected seconds of video"):
        parse_bound("soon", "--since")


# ----------------------------------------------------------------------------- the graph on a known store
def _alert(camera: str, source: str, kind: str, start: float, end: float, conf: float = 0.9) -> dict[str, Any]:
    from vigil.core.schemas import Alert

    aid = Alert.make_id(camera, source, start)
    return {"alert_id": aid, "camera_id": camera, "source": source, "event_id": f"{camera}-{aid[:6]}",
            "event_type": kind, "verdict": "alert", "start_s": start, "end_s": end, "peak_score": 0.8,
            "confidence": conf, "explanation": {"what": f"{kind} seen", "when": f"{start}-{end} s", "where": "centre",
                                                "why": "unusual here"},
            "explained_by": "rules", "keyframes": [], "clip": None,
            "region": {"x1": 0.2, "y1": 0.2, "x2": 0.6, "y2": 0.8}, "latency_s": 3.0, "created_at": "2026-11-23T15:00:00"}


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    """Two cameras, three videos with a wall-clock start, four alerts."""
    s = Store(tmp_path / "vigil.db")
    for cam, src, start in (("north", "/v/a.mp4", "2026-11-23T15:00:00"), ("north", "/v/b.mp4", "2026-11-23T15:10:00"),
                            ("south", "/v/c.mp4", "2026-11-23T16:00:00")):
        s.record_video(src, cam, fps=10, n_frames=600, duration_s=60.0, scanned_until=60.0, start_time=start, complete=True)
    for a in (_alert("north", "/v/a.mp4", "falling", 12.0, 20.0), _alert("north", "/v/b.mp4", "vehicle", 40.0, 45.0),
              _alert("south", "/v/c.mp4", "falling", 50.0, 58.0), _alert("south", "/v/c.mp4", "running", 5.0, 8.0)):
        assert s.add_alert(a)
    yield s
    s.close()


def _ask(store: Store, question: str, scope: AskScope | None = None, backend: Any = None) -> tuple[Any, Any]:
    ctx = AskContext(store, scope or AskScope(all=True))
    return AskGraph(ctx, backend=backend, cameras=["north", "south"]).ask(question)


def test_when_answers_cite_stored_events(store: Store) -> None:
    answer, state = _ask(store, "When did someone fall?")
    assert answer.found and answer.intervals == [(12.0, 20.0), (50.0, 58.0)]
    assert [c.camera_id for c in answer.citations] == ["north", "south"]
    assert roles(state) == {"observer": "rules", "analyst": "rules", "decider": "rules"}


def test_scopes_counts_cameras_and_time(store: Store) -> None:
    assert _ask(store, "How many falls were there?", AskScope(cameras=["north"]))[0].answer.startswith("1:")
    assert _ask(store, "Which cameras saw a vehicle?")[0].answer.startswith("Camera north")
    assert not _ask(store, "Did anyone fall?", AskScope(videos=["/v/b.mp4"], cameras=["north"]))[0].found
    assert _ask(store, "Did anyone fall in the last 15 seconds?")[0].intervals == [(50.0, 58.0)]
    # wall clock: a.mp4 starts 15:00, c.mp4 at 16:00
    assert _ask(store, "Did anyone fall after 3:30 pm?")[0].intervals == [(50.0, 58.0)]
    assert _ask(store, "Did anyone fall before 15:05?")[0].intervals == [(12.0, 20.0)]
    assert not _ask(store, "Did anyone fall before 3 pm?")[0].found


def test_negatives_say_not_found(store: Store) -> None:
    for q in ("Was there a fight?", "Was anything left behind?"):
        answer, _ = _ask(store, q)
        assert not answer.found and answer.answer.startswith("Not found") and not answer.citations, q
    # what Vigil cannot recognise is said as such, not as "looked and found none"
    answer, _ = _ask(store, "Did anyone swim?")
    assert not answer.found and not answer.citations and answer.unrecognised == ["swim"]
    assert answer.answer.startswith("Vigil cannot recognise swim")


def test_llm_roles_are_used_when_valid(store: Store) -> None:
    chat = ScriptedChat([
        final(kind="when", event_types=["falling"], cameras=["south"]),              # observer
        call("search_events", event_types=["falling"], cameras=["south"]),           # analyst
        final(event_ids=["south-" + _alert("south", "/v/c.mp4", "falling", 50, 58)["alert_id"][:6]], notes="one fall"),
        final(answer="Someone fell at 50-58 s on camera south.", found=True, intervals=[[50.0, 58.0]],  # decider
              citations=[{"video": "/v/c.mp4", "camera_id": "south", "event_id": "south-"
                          + _alert("south", "/v/c.mp4", "falling", 50, 58)["alert_id"][:6], "start_s": 50.0, "end_s": 58.0}],
              confidence=0.9),
    ])
    answer, state = _ask(store, "When did someone fall on camera south?", backend=chat)
    assert answer.answer.startswith("Someone fell") and answer.intervals == [(50.0, 58.0)]
    assert roles(state) == {"observer": "llm:scripted", "analyst": "llm:scripted", "decider": "llm:scripted"}
    assert chat.seen[1][:4] == ["search_events", "search_memory", "sample_keyframes", "describe"]


def test_invented_intervals_and_ids_fall_back_to_rules(store: Store) -> None:
    bad_answer = final(answer="A fall at 100 s.", found=True, intervals=[[100.0, 110.0]], citations=[], confidence=0.9)
    chat = ScriptedChat([
        ChatReply(content="not a tool call"), ChatReply(content="still not"),         # observer: invalid twice
        final(event_ids=["made-up-id"]), final(event_ids=["made-up-again"]),          # analyst: ungrounded twice
        bad_answer, bad_answer,                                                        # decider: invented interval
    ])
    answer, state = _ask(store, "When did someone fall?", backend=chat)
    assert roles(state) == {"observer": "rules", "analyst": "rules", "decider": "rules"}
    assert answer.intervals == [(12.0, 20.0), (50.0, 58.0)]
    assert any("fell back" in t for t in state["trace"])


def test_endpoint_down_still_answers(store: Store) -> None:
    chat = ScriptedChat([LLMError("cannot connect")] * 3)
    answer, state = _ask(store, "Which cameras saw a vehicle?", backend=chat)
    assert answer.found and [c.camera_id for c in answer.citations] == ["north"]
    assert roles(state)["decider"] == "rules"


def test_memory_search_is_scoped_and_uses_the_embedders_space(tmp_path: Path) -> None:
    mem = PatternMemory(tmp_path / "chroma")
    emb = HashingTextEmbedder()
    for i, (cam, text) in enumerate([("north", "a red van drove across the plaza"), ("south", "a person in red fell"),
                                     ("north", "someone ran past the kiosk")]):
        mem.add_event_text(f"e{i}", text, emb.embed([text])[0], {"camera_id": cam}, space=emb.space)
    with Store(tmp_path / "s.db") as s:
        ctx = AskContext(s, AskScope(cameras=["north"]), memory=mem, embedder=emb)
        hits = ctx.search_memory("red van")
        assert [h["id"] for h in hits][0] == "e0" and {h["camera_id"] for h in hits} == {"north"}
    assert mem.search_events(emb.embed(["red"])[0], space="other-space") == []


def test_resolve_scope_errors(store: Store, tmp_path: Path) -> None:
    with pytest.raises(VigilError, match="unknown camera 'east'"):
        resolve_scope(store, camera="east")
    with pytest.raises(VigilError, match="video not found"):
        resolve_scope(store, video=str(tmp_path / "missing.mp4"))
    clip = tmp_path / "new.mp4"
    clip.write_bytes(b"x")
    with pytest.raises(VigilError, match="not indexed yet; add --camera"):
        resolve_scope(store, video=str(clip))
    assert resolve_scope(store, video="/v/a.mp4").cameras == ["north"]
    with Store(tmp_path / "empty.db") as empty, pytest.raises(VigilError, match="nothing is indexed yet"):
        resolve_scope(empty)


# ----------------------------------------------------------------------------- the question set
def test_question_set_is_valid_and_large_enough() -> None:
    qs = load_questions()
    assert len(qs) >= 40
    checks = {q.expect.check for q in qs}
    assert checks == {"intervals_of", "found_of", "found", "count_of", "cameras_of"}
    assert sum(q.expect.check == "found" for q in qs) >= 5


def test_judge_checks_against_truth(synth_small: Path) -> None:
    truth = load_ground_truth(synth_small / "gt.json")
    names = sorted(truth)
    footage = Footage(truth, {n: ("north", "south")[k % 2] for k, n in enumerate(names)})
    fall = next(n for n in names if "falling" in n)
    s, e, _ = truth[fall].events[0]
    q = AskQuestion.model_validate({"q": "When did a person fall?", "scope": {"video": fall}, "expect": {"intervals_of": "falling"}})
    right = {"found": True, "citations": [{"video": f"/x/{fall}.mp4", "camera_id": "south", "start_s": s + 1, "end_s": e}]}
    wrong = {"found": True, "citations": [{"video": f"/x/{fall}.mp4", "camera_id": "south", "start_s": 0.0, "end_s": s - 3}]}
    assert judge(q, right, footage).right and not judge(q, wrong, footage).right
    assert not judge(q, {"found": False, "citations": []}, footage).right


# ----------------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def ask_data(fitted_camera: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the fitted profile and nothing indexed."""
    data = tmp_path_factory.mktemp("ask-data")
    shutil.copytree(fitted_camera[0] / "plaza" / "profile", data / "plaza" / "profile")
    return data


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def test_vigil_ask_scans_a_new_video_then_answers_from_the_index(ask_data: Path, synth_small: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    truth = load_ground_truth(synth_small / "gt.json")
    fall = next(n for n in truth if "falling" in n)
    video = str(synth_small / "test" / f"{fall}.mp4")
    base = ["--config", str(synth_small / "vigil.yaml"), "--data-dir", str(ask_data)]
    code, out = _run([*base, "ask", "When did a person fall?", "--video", video, "--camera", "plaza", "--json"])
    assert code == 0
    answer = json.loads(out)
    s, e, _ = truth[fall].events[0]
    assert answer["found"] and answer["intervals"] and answer["by"]["decider"] == "rules"
    for a, b in answer["intervals"]:
        assert a <= e and b >= s  # overlaps the true fall
    cite = answer["citations"][0]
    assert cite["video"] == video and cite["camera_id"] == "plaza" and Path(cite["keyframe"]).is_file()
    # indexed now: no camera needed, and a time limit that excludes the fall says "not found"
    code, out = _run([*base, "ask", "Did anyone fall?", "--video", video, "--until", f"{max(s - 5, 1):.0f}", "--json"])
    assert code == 0 and json.loads(out)["found"] is False
    # human text cites the video and time
    code, out = _run([*base, "ask", "Did anyone fall?", "--camera", "plaza"])
    assert code == 0 and out.startswith("Yes: Falling from") and f"{fall}.mp4" in out
    # a lost keyframe is sampled again from the video
    for k in Path(cite["keyframe"]).parent.glob("keyframe_*.jpg"):
        k.unlink()
    code, out = _run([*base, "ask", "When did a person fall?", "--all", "--json"])
    assert code == 0 and Path(json.loads(out)["citations"][0]["keyframe"]).is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", "When?", "--camera", "east"], "unknown camera 'east'"),
        (["ask", "When?", "--video", "/nope/x.mp4"], "video not found"),
        (["ask", "When?", "--since", "later"], "--since later: expected seconds of video"),
        (["ask", "When?", "--all", "--camera", "plaza"], "--all asks about every camera"),
        (["bench", "--ask", "When?", "--all", "--camera", "plaza"], "--all asks about every camera"),
    ],
)
def test_vigil_ask_bad_input_is_one_line(ask_data: Path, synth_small: Path, args: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(synth_small / "vigil.yaml"), "--data-dir", str(ask_data), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_vigil_ask_with_nothing_indexed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path), "ask", "Any falls?"]) == 2
    assert "nothing is indexed yet" in capsys.readouterr().err


def test_eval_ask_and_bench_ask(synth_small: Path, fitted_camera: tuple[Path, Path], tmp_path: Path) -> None:
    data = tmp_path / "eval-ask"
    for cam in ("north", "south"):
        shutil.copytree(fitted_camera[0] / "plaza" / "profile", data / cam / "profile")
    code, out = _run(["--data-dir", str(data), "eval", "ask", "--data", str(synth_small), "--json"])
    assert code == 0
    report = json.loads(out)
    assert report["questions"] == len(load_questions(QUESTIONS_FILE))
    assert report["negatives"]["right"] == report["negatives"]["of"] >= 10
    assert report["accuracy"] >= 0.85, [r for r in report["rows"] if not r["right"]]
    assert report["answer_seconds"]["max"] < 5.0
    code, out = _run(["--data-dir", str(data), "bench", "--ask", "Which cameras saw a vehicle?", "--repeat", "2", "--json"])
    bench = json.loads(out)
    assert code == 0 and bench["found"] and bench["repeats"] == 2 and bench["answer_s_max"] < 5.0
    assert np.isfinite(bench["setup_s"])


def test_embeddings_endpoint_is_used_when_configured() -> None:
    from helpers import FakeOpenAI

    from vigil.core.config import Endpoint
    from vigil.core.memory import EndpointTextEmbedder, text_embedder

    def respond(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        vecs = [[float(len(t)), 3.0, 4.0] for t in req["input"]]
        return 200, {"object": "list", "model": req["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1},
                     "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vecs)]}

    server = FakeOpenAI(respond)
    try:
        emb = text_embedder(Endpoint(url=server.url, model="nomic/embed-text v1"))
        assert isinstance(emb, EndpointTextEmbedder) and emb.space == "nomic-embed-text-v1"
        v = emb.embed(["ab", "abcd"])
        assert v.shape == (2, 3) and np.allclose(np.linalg.norm(v, axis=1), 1.0)
        assert server.requests[0]["model"] == "nomic/embed-text v1"
    finally:
        server.close()
    assert isinstance(text_embedder(Endpoint()), HashingTextEmbedder)
    down = text_embedder(Endpoint(url="http://127.0.0.1:9/v1", model="m", timeout_s=2))
    with pytest.raises(VigilError, match="embeddings endpoint failed"):
        down.embed(["x"])


def test_a_question_file_with_an_alias_bomb_is_one_line_at_once(tmp_path: Path) -> None:
    # --questions FILE is a file a user may have been sent: aliases must not expand into gigabytes
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    bomb = tmp_path / "questions.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="aliases") as info:
        load_questions(bomb)
    assert "\n" not in str(info.value)
