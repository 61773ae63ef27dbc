"""Instruction datasets: vigil data build (annotations, footage), eval captions, eval predict."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SHARED_DATA
from helpers import FakeOpenAI, chat_reply

from data_engine.hivau import dump_annotations, load_annotations, read_rows
from perception.source.video import open_video
from prompts import load_pool
from vigil.cli import main
from vigil.core.errors import DataError
from vigil.core.schemas import load_ground_truth

HIVAU = SHARED_DATA / "hivau"


@pytest.fixture(scope="module")
def hivau() -> Path:
    if not (HIVAU / "ucf_database_test.json").is_file():
        pytest.skip(f"HIVAU reference annotations not found in {HIVAU} (the shared data folder sits beside the checkout)")
    return HIVAU


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def ucf_built(hivau: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ucf")
    code, _ = _run(["data", "build", "--annotations", str(hivau / "ucf_database_test.json"), "--out", str(out), "--json"])
    assert code == 0
    return out


# ----------------------------------------------------------------------------- from annotations
def test_every_official_ucf_row_is_built(ucf_built: Path, hivau: Path) -> None:
    official = [json.loads(line) for line in (hivau / "merge_instruction_test_final.jsonl").read_text().splitlines()
                if '"ucf-crime/' in line]
    assert len(official) == 599
    built = {(r["video"], r["type"], r["task"], r["anwser"]) for r in _rows(ucf_built / "instructions_test.jsonl")}
    missing = [r for r in official if (r["video"], r["type"], r["task"], r["anwser"]) not in built]
    assert missing == []


def test_built_rows_levels_tasks_and_stats(ucf_built: Path, hivau: Path) -> None:
    rows = _rows(ucf_built / "instructions_test.jsonl")
    assert [r["id"] for r in rows] == list(range(len(rows)))
    raw = json.loads((hivau / "ucf_database_test.json").read_text())
    normal = {n for n, v in raw.items() if not v["label"]}
    for r in rows:
        name = Path(r["video"]).stem.split("_E")[0]
        assert not (name in normal and r["task"] == "analysis"), r  # normal videos: no analysis item
        assert r["prompt"] and r["type"] in ("clip", "event", "video")
    stats = json.loads((ucf_built / "stats.json").read_text())
    assert stats["videos"] == 251 and stats["normal_videos"] == len(normal)
    assert stats["items_per_level"]["clip"] == sum(len(c) for v in raw.values() for c in v["clips"])
    assert stats["items"] == len(rows)
    train = _rows(ucf_built / "instructions_train.jsonl")
    assert len(train) == len({r["video"] for r in rows})
    video_conv = next(t for t in train if t["type"] == "video" and Path(t["video"]).stem not in normal)["conversations"]
    assert [c["from"] for c in video_conv] == ["human", "gpt"] * 3
    assert video_conv[0]["value"].startswith("<video>\n") and not video_conv[2]["value"].startswith("<video>")
    assert video_conv[1]["value"].startswith("An anomaly exists")


def test_prompts_are_drawn_by_seed(hivau: Path, ucf_built: Path, tmp_path: Path) -> None:
    pools = load_pool("instructions")
    assert len(pools["caption"]) >= 20 and all(len(pools[t]) >= 10 for t in ("judgement", "description", "analysis"))
    again, other = tmp_path / "again", tmp_path / "other"
    for out, seed in ((again, "0"), (other, "7")):
        assert _run(["data", "build", "--annotations", str(hivau / "ucf_database_test.json"), "--out", str(out),
                     "--seed", seed])[0] == 0
    assert (again / "instructions_test.jsonl").read_bytes() == (ucf_built / "instructions_test.jsonl").read_bytes()
    a, b = _rows(ucf_built / "instructions_test.jsonl"), _rows(other / "instructions_test.jsonl")
    assert [r["anwser"] for r in a] == [r["anwser"] for r in b]
    assert sum(x["prompt"] != y["prompt"] for x, y in zip(a, b)) > len(a) // 2


def test_raw_annotations_round_trip(hivau: Path) -> None:
    raw = json.loads((hivau / "ucf_database_test.json").read_text())
    assert dump_annotations(load_annotations(hivau / "ucf_database_test.json")) == raw


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda v: v.pop("fps"), "fps: Field required"),
        (lambda v: v["clips_caption"][0].append("extra"), "1 clips but 2 captions"),
        (lambda v: v.update(events=[[5.0, 2.0]]), "event 0 ends (2.0) before it starts"),
    ],
)
def test_broken_annotations_give_one_line(hivau: Path, tmp_path: Path, mutate: Any, message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    raw = json.loads((hivau / "ucf_database_test.json").read_text())
    entry = raw["Abuse028_x264"]
    mutate(entry)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Abuse028_x264": entry}))
    assert main(["data", "build", "--annotations", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "video 'Abuse028_x264'" in err and message in err and len(err.splitlines()) == 1


def test_media_files_are_cut_from_source_videos(synth_small: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    code, _ = _run(["data", "build", "--annotations", str(synth_small / "hivau.json"), "--out", str(out),
                    "--videos", str(synth_small / "test"), "--dataset", "synth", "--json"])
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["media"]["missing_sources"] == [] and stats["media"]["failed"] == []
    raw = json.loads((synth_small / "hivau.json").read_text())
    name = next(n for n, v in raw.items() if v["label"])
    (t0, t1), = raw[name]["events"][:1]
    with open_video(out / "synth" / "events" / "test" / f"{name}_E0.mp4", fps=1000, width=160) as ev:
        assert ev.info.duration_s == pytest.approx(t1 - t0, abs=0.25)
    c0, c1 = raw[name]["clips"][0][-1]
    with open_video(out / "synth" / "clips" / "test" / f"{name}_E0C{len(raw[name]['clips'][0]) - 1}.mp4", fps=1000, width=160) as cl:
        assert cl.info.duration_s == pytest.approx(c1 - c0, abs=0.25)
    # a second run keeps what is there
    code, _ = _run(["data", "build", "--annotations", str(synth_small / "hivau.json"), "--out", str(out),
                    "--videos", str(synth_small / "test"), "--dataset", "synth", "--json"])
    assert code == 0 and json.loads((out / "stats.json").read_text())["media"]["written"] == 0


def _entry(n_frames: int = 100, fps: float = 10.0, events: list[list[float]] | None = None,
           clips: list[list[list[float]]] | None = None) -> dict[str, Any]:
    """A small valid raw annotation: one anomalous event of one clip in a 10 s video."""
    events = events if events is not None else [[2.0, 6.0]]
    clips = clips if clips is not None else [[list(e)] for e in events]
    split = {"judgement": "An anomaly exists.", "description": "A man falls.", "analysis": "He stays down."}
    return {"n_frames": n_frames, "fps": fps, "label": ["Falling"], "events": events, "clips": clips,
            "clips_caption": [["A man falls."] * len(c) for c in clips], "events_summary": ["A fall."] * len(events),
            "video_summary": "A fall.", "events_summary_split": [split] * len(events), "video_summary_split": split}


@pytest.mark.parametrize("name", ["../../../../evil", "ABSOLUTE", "sub/evil", "..", "ev\\il", "C:evil", "ev\u0000il"])
def test_data_build_refuses_video_names_that_leave_out_or_videos(tmp_path: Path, name: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A downloaded annotation file names its videos; a name that is not a plain file name would
    read a source outside --videos and write event and clip files outside --out: one line naming
    it, exit 2, nothing written anywhere."""
    from helpers import write_clip

    name = str(tmp_path / "evil") if name == "ABSOLUTE" else name
    videos = tmp_path / "v1" / "v2" / "v3" / "videos"  # "../../../../evil" from here is tmp_path/evil
    videos.mkdir(parents=True)
    write_clip(tmp_path / "evil.mp4", 100, fps=10.0)
    write_clip(videos / "ok.mp4", 100, fps=10.0)
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"ok": _entry(), name: _entry()}))
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out"
    assert main(["data", "build", "--annotations", str(ann), "--out", str(out), "--videos", str(videos),
                 "--dataset", "ds"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vigil: error:") and f"video {name!r}" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not out.exists()


def test_media_paths_from_flags_stay_inside_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--dataset and --split are part of every media path: one leading out is refused before anything is written."""
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"ok": _entry()}))
    out = tmp_path / "out"
    assert main(["data", "build", "--annotations", str(ann), "--out", str(out), "--dataset", "../../x"]) == 2
    assert "media path '../../x/videos/test/ok.mp4' has a '..' part" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path.parent / "x").exists()


def test_find_source_takes_the_name_as_it_is(tmp_path: Path) -> None:
    """A source one folder down is found by its exact name: "*" is not a pattern that picks another video."""
    from data_engine.media import find_source

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "robbery.mp4").write_bytes(b"x")
    assert find_source(tmp_path, "robbery") == tmp_path / "a" / "robbery.mp4"
    assert find_source(tmp_path, "*") is None and find_source(tmp_path, "rob[b]ery") is None
    with pytest.raises(DataError, match="has a '..' part"):
        find_source(tmp_path / "a", "../a/robbery")


@pytest.mark.parametrize(
    "events, clips, message",
    [
        ([[-1.0, 2.0]], None, "event 0 starts before the video (-1.0 s)"),
        ([[float("nan"), 2.0]], None, "events.0.0: Input should be a finite number"),
        ([[2.0, float("inf")]], None, "events.0.1: Input should be a finite number"),
        ([[2.0, 60.0]], None, "event 0 ends at 60.0 s, past the end of the video (10.000 s"),
        ([[2.0, 6.0]], [[[2.0, 4.0], [4.0, 10.5]]], "event 0 clip 1 ends at 10.5 s, past the end"),
        ([[2.0, 6.0]], [[[4.0, 3.0]]], "event 0 clip 0 ends (3.0) before it starts (4.0)"),
    ],
)
def test_data_build_refuses_spans_outside_the_video(tmp_path: Path, events: Any, clips: Any, message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Events and clips at negative, NaN or past-the-end times are refused like reversed ones."""
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"v": _entry(events=events, clips=clips)}))
    out = tmp_path / "out"
    assert main(["data", "build", "--annotations", str(ann), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "video 'v'" in err and message in err, err
    assert not out.exists()


def test_spans_may_end_a_frame_or_two_past_the_frame_count(tmp_path: Path) -> None:
    """The official annotations end up to two frames past their frame count; that is kept as it is."""
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"v": _entry(events=[[2.0, 10.2]])}))
    assert load_annotations(ann)["v"].events == [(2.0, 10.2)]


def test_eval_predict_reads_no_video_outside_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An instruction row naming ../secret.mp4 is refused, not read from beside --videos."""
    from helpers import write_clip

    write_clip(tmp_path / "secret.mp4", 20, fps=10.0)
    (tmp_path / "ds").mkdir()
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": 0, "type": "video", "task": "description", "video": "../secret.mp4",
                                "prompt": "What happens?", "anwser": "Nothing."}) + "\n")
    server = FakeOpenAI(lambda req: (200, chat_reply("Nothing.")))
    try:
        code = main(["eval", "predict", "--instructions", str(rows), "--videos", str(tmp_path / "ds"),
                     "--vlm-url", server.url, "--vlm-model", "fake", "--out", str(tmp_path / "pred.jsonl")])
    finally:
        server.close()
    err = capsys.readouterr().err.strip()
    assert code == 2 and "video '../secret.mp4' has a '..' part" in err and len(err.splitlines()) == 1, err
    assert server.requests == []  # nothing was sent from the file outside


def test_fgclip_annotations_name_videos_inside_videos(tmp_path: Path) -> None:
    """vigil train fgclip reads entries' videos under --videos only: ../ and absolute paths are refused."""
    from perception.fgclip.data import FGClipDataset, FGClipEntry
    from perception.fgclip.data import load_annotations as load_fgclip

    for video in ("../secret.mp4", str(tmp_path / "secret.mp4")):
        path = tmp_path / "fg.json"
        path.write_text(json.dumps([{"video": "ok.mp4", "global_caption": "A plaza."},
                                    {"video": video, "global_caption": "A plaza."}]))
        with pytest.raises(DataError, match=r"entry 1: video .* it must be relative to --videos"):
            load_fgclip(path)
    with pytest.raises(DataError, match="video '../secret.mp4' has a '..' part"):
        FGClipDataset([FGClipEntry(video="../secret.mp4", global_caption="A plaza.")], tmp_path / "videos")[0]


# ----------------------------------------------------------------------------- from footage
@pytest.fixture(scope="module")
def footage(synth_small: Path, fitted_camera: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("footage-data")
    shutil.copytree(fitted_camera[0] / "plaza" / "profile", data / "plaza" / "profile")
    truth = load_ground_truth(synth_small / "gt.json")
    picks = [n for n in sorted(truth) if any(k in n for k in ("falling", "intrusion", "normal"))][:3]
    videos = [str(synth_small / "test" / f"{n}.mp4") for n in picks]
    out = tmp_path_factory.mktemp("footage-out")
    code, text = _run(["--config", str(synth_small / "vigil.yaml"), "--data-dir", str(data), "data", "build",
                       "--from-footage", *videos, "--camera", "plaza", "--out", str(out), "--json"])
    return {"code": code, "stats": json.loads(text) if code == 0 else {}, "out": out, "data": data, "videos": videos,
            "truth": truth, "picks": picks}


def test_from_footage_makes_valid_annotations_that_build_back_unchanged(footage: dict[str, Any], tmp_path: Path) -> None:
    assert footage["code"] == 0
    out = footage["out"]
    ann = out / "annotations.json"
    videos = load_annotations(ann)
    assert dump_annotations(videos) == json.loads(ann.read_text())  # read back unchanged
    from data_engine.footage import anomaly_name
    from vigil.core.store import Store

    with Store(footage["data"] / "vigil.db") as store:
        alerts = store.find_alerts(cameras=["plaza"])
    for name in footage["picks"]:
        v, t = videos[name], footage["truth"][name]
        mine = sorted((a for a in alerts if Path(a["source"]).stem == name), key=lambda a: a["start_s"])
        assert v.label == list(dict.fromkeys(anomaly_name(a["event_type"]) for a in mine))  # the alerts name it
        assert [tuple(e) for e in v.events] == [(round(a["start_s"], 2), round(a["end_s"], 2)) for a in mine] or not mine
        if "falling" in name:
            assert v.label == ["Falling"]
        if t.events:
            assert v.video_summary_split.analysis and v.video_summary_split.judgement.startswith("An anomaly exists")
            (s, e), = v.events[:1]
            assert s <= t.events[0][1] and e >= t.events[0][0]  # the event overlaps the truth
        else:
            assert v.label == [] and v.video_summary_split.analysis is None
        assert all(c and c[0].isupper() for caps in v.clips_caption for c in caps)
        for (s, e), clips in zip(v.events, v.clips):
            assert clips[0][0] == pytest.approx(s, abs=0.01) and clips[-1][1] == pytest.approx(e, abs=0.01)
    assert footage["stats"]["engine"]["summaries_by"] == {"template": sum(len(v.events) + 1 for v in videos.values())}
    rebuilt = tmp_path / "rebuilt"
    assert _run(["data", "build", "--annotations", str(ann), "--out", str(rebuilt), "--dataset", "vigil"])[0] == 0
    assert (rebuilt / "instructions_test.jsonl").read_bytes() == (out / "instructions_test.jsonl").read_bytes()
    assert (out / "vigil" / "clips" / "test" / f"{footage['picks'][0]}_E0C0.mp4").is_file()


def test_from_footage_writes_fgclip_annotations_with_the_alerts_regions(footage: dict[str, Any], synth_small: Path,
                                                                      tmp_path: Path) -> None:
    from perception.fgclip.data import FGClipDataset
    from perception.fgclip.data import load_annotations as load_fgclip
    from vigil.core.store import Store

    assert footage["code"] == 0
    out = tmp_path / "fg"
    code, text = _run(["--config", str(synth_small / "vigil.yaml"), "--data-dir",
                       str(footage["data"]), "data", "build", "--from-footage", *footage["videos"], "--camera", "plaza",
                       "--out", str(out), "--format", "fgclip", "--json"])
    assert code == 0, text
    entries = {Path(e.video).stem: e for e in load_fgclip(out / "fgclip.json")}
    assert set(entries) == set(footage["picks"]) and json.loads(text)["videos"] == 3
    # videos are named relative to their common folder, the --videos of vigil train fgclip
    videos_dir = Path(json.loads(text)["videos_dir"])
    assert videos_dir == synth_small / "test" and {e.video for e in entries.values()} == {f"{n}.mp4" for n in entries}
    with Store(footage["data"] / "vigil.db") as store:
        # each video's first alert, which its first region is about
        alerts = {}
        for a in sorted(store.find_alerts(cameras=["plaza"]), key=lambda a: -a["start_s"]):
            alerts[Path(a["source"]).stem] = a
        tracked = {tuple(t["keyframe_box"]) for t in store.find_tracks(cameras=["plaza"]) if t.get("keyframe_box")}
    for name, e in entries.items():
        truth = footage["truth"][name]
        if not truth.events:
            assert e.normal and e.box_infos == []
            (t0, t1), = e.timestamps
            assert t1 - t0 == pytest.approx(10.0) and t0 >= 0 and t1 <= truth.duration_s + 0.01
            continue
        a = alerts[name]
        assert e.region_captions and e.region_captions[0][0].isupper()
        boxes = e.box_infos[0]
        region = tuple(a["region"][k] for k in ("x1", "y1", "x2", "y2"))
        # the alert's box, or a tracked object's own box on its keyframe
        assert boxes and all(b.bbox == pytest.approx(region, abs=1e-3) or b.bbox in tracked for b in boxes)
        fps = truth.fps
        assert a["start_s"] - 1 <= boxes[0].frame / fps and boxes[-1].frame / fps <= a["end_s"] + 1
    # a tracked object inside the alert's box gets its own box on its keyframe; one elsewhere does not
    from data_engine.footage import FootageEvent, FootageVideo, fgclip_entries

    raw = load_annotations(footage["out"] / "annotations.json")
    name = next(n for n in footage["picks"] if "falling" in n)
    a = alerts[name]
    region = tuple(a["region"][k] for k in ("x1", "y1", "x2", "y2"))
    cx, cy = (region[0] + region[2]) / 2, (region[1] + region[3]) / 2
    mid = (a["start_s"] + a["end_s"]) / 2
    inside = {"keyframe_s": mid, "keyframe_box": [cx - 0.02, cy - 0.05, cx + 0.02, cy + 0.05]}
    outside = {"keyframe_s": mid + 0.5, "keyframe_box": [0.9, 0.9, 0.95, 0.99]}
    fps = footage["truth"][name].fps
    video = FootageVideo(name, "x.mp4", fps, footage["truth"][name].n_frames,
                         [FootageEvent(a["start_s"], a["end_s"], a["event_type"], region=region)])
    (entry,) = fgclip_entries({name: raw[name]}, [video], tracks={name: [inside, outside]})
    placed = {b["frame"]: b["bbox"] for b in entry["box_infos"][0]}
    assert placed[int(round(mid * fps))] == pytest.approx(inside["keyframe_box"], abs=1e-3)
    assert [0.9, 0.9, 0.95, 0.99] not in placed.values()
    sample = FGClipDataset(list(entries.values()), videos_dir, frames=4, size=32, cache=False)[0]
    assert sample.frames.shape == (4, 32, 32, 3)
    assert _run(["data", "build", "--annotations", str(out / "fgclip.json"), "--out", str(tmp_path / "x"),
                 "--format", "fgclip"])[0] == 2


def test_from_footage_uses_a_language_model_for_summaries(footage: dict[str, Any], synth_small: Path, tmp_path: Path) -> None:
    def respond(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        anomalous = any("There is an anomaly" in m["content"] for m in req["messages"] if isinstance(m.get("content"), str))
        args = {"judgement": "An anomaly exists, specifically, the anomaly is named Falling." if anomalous
                else "No anomaly exists in the video.", "description": "A person walks, then falls and lies still."}
        if anomalous:
            args["analysis"] = "People who fall and stay down may need help."
        call = {"id": "c1", "type": "function", "function": {"name": "final_answer", "arguments": json.dumps(args)}}
        return 200, chat_reply(tool_calls=[call])

    server = FakeOpenAI(respond)
    try:
        out = tmp_path / "llm"
        code, text = _run(["--config", str(synth_small / "vigil.yaml"), "--data-dir", str(footage["data"]), "data", "build",
                           "--from-footage", *footage["videos"], "--camera", "plaza", "--out", str(out),
                           "--llm-url", server.url, "--llm-model", "fake", "--json"])
    finally:
        server.close()
    assert code == 0
    videos = load_annotations(out / "annotations.json")
    assert json.loads(text)["engine"]["summaries_by"] == {"llm:fake": sum(len(v.events) + 1 for v in videos.values())}
    assert {v.video_summary_split.description for v in videos.values()} == {"A person walks, then falls and lies still."}


def test_from_footage_bad_input(synth_small: Path, footage: dict[str, Any], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--config", str(synth_small / "vigil.yaml"), "--data-dir", str(footage["data"]), "data", "build"]
    assert main([*base, "--from-footage", footage["videos"][0], "--out", str(tmp_path)]) == 2
    assert "needs --camera" in capsys.readouterr().err
    assert main([*base, "--from-footage", str(tmp_path / "nope.mp4"), "--camera", "plaza", "--out", str(tmp_path)]) == 2
    assert "nope.mp4: video not found" in capsys.readouterr().err
    assert main([*base, "--from-footage", footage["videos"][0], "--camera", "lobby", "--out", str(tmp_path)]) == 2
    assert "no fitted profile" in capsys.readouterr().err


# ----------------------------------------------------------------------------- caption metrics
def _direct(gt: list[dict[str, Any]], pred: dict[Any, str]) -> dict[str, float]:
    """pycocoevalcap called the way its own COCO evaluation does."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({r["id"]: [{"caption": r["anwser"]}] for r in gt})
    res = tok.tokenize({r["id"]: [{"caption": pred[r["id"]]}] for r in gt})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"BLEU-{i + 1}": b for i, b in enumerate(bleu)}
    out["METEOR"] = Meteor().compute_score(gts, res)[0]
    out["ROUGE-L"] = Rouge().compute_score(gts, res)[0]
    out["CIDEr"] = Cider().compute_score(gts, res)[0]
    return out


def test_eval_captions_agrees_with_pycocoevalcap(hivau: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    official = [json.loads(line) for line in (hivau / "merge_instruction_test_final.jsonl").read_text().splitlines()]
    gt = [r for r in official if r["video"].startswith("ucf-crime/")][:150]
    preds = {}
    for i, r in enumerate(gt):  # half of each answer plus words of another item's answer
        words, other = r["anwser"].split(), gt[(i + 5) % len(gt)]["anwser"].split()
        preds[r["id"]] = " ".join(words[: len(words) // 2] + other[:6])
    gt_file, pred_file = tmp_path / "gt.jsonl", tmp_path / "pred.jsonl"
    gt_file.write_text("".join(json.dumps(r) + "\n" for r in gt))
    # predictions use "answer" (also accepted), one is missing and one is extra
    rows = [{**{k: r[k] for k in ("id", "type", "task", "video")}, "answer": preds[r["id"]]} for r in gt[1:]]
    rows.append({"id": 99999, "type": "clip", "task": "caption", "video": "x.mp4", "answer": "a man walks"})
    pred_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, text = _run(["eval", "captions", "--gt", str(gt_file), "--pred", str(pred_file), "--json"])
    assert code == 0
    report = json.loads(text)
    assert report["scored"] == len(gt) - 1 and report["missing"] == 1 and report["extra"] == 1
    scored = gt[1:]
    for group, members in (("overall", scored), ("level:clip", [r for r in scored if r["type"] == "clip"]),
                           ("level:event", [r for r in scored if r["type"] == "event"]),
                           ("level:video", [r for r in scored if r["type"] == "video"])):
        direct = _direct(members, preds)
        for metric, value in direct.items():
            assert report["groups"][group][metric] == pytest.approx(value, abs=1e-6), (group, metric)
        if group.startswith("level:"):  # the paper's layout: its BLEU is the sum of BLEU-1..4
            row = report["paper_table"][group.split(":")[1]]
            assert row["BLEU-sum"] == pytest.approx(sum(direct[f"BLEU-{k}"] for k in range(1, 5)), abs=1e-6)
            assert row["BLEU-4"] == pytest.approx(direct["BLEU-4"], abs=1e-6)
            assert row["CIDEr"] == pytest.approx(direct["CIDEr"], abs=1e-6)
    err = capsys.readouterr().err
    assert "have no prediction" in err and "not in the ground truth" in err
    assert any("CIDEr" in w for w in report["warnings"]) == any(g["n"] < 10 for g in report["groups"].values())


def test_eval_captions_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "type": "clip"}\n')
    assert main(["eval", "captions", "--gt", str(bad), "--pred", str(bad)]) == 2
    assert "bad.jsonl:1: missing task, video, anwser" in capsys.readouterr().err
    with pytest.raises(DataError, match="file not found"):
        read_rows(tmp_path / "none.jsonl")


# ----------------------------------------------------------------------------- predictions
def test_eval_predict_asks_the_vlm_and_resumes(synth_small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = tmp_path / "ds"
    assert _run(["data", "build", "--annotations", str(synth_small / "hivau.json"), "--out", str(ds),
                 "--videos", str(synth_small / "test"), "--dataset", "synth"])[0] == 0
    rows = _rows(ds / "instructions_test.jsonl")
    seen: list[int] = []

    def respond(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = req["messages"][-1]["content"]
        seen.append(sum(1 for p in parts if p["type"] == "image_url"))
        return 200, chat_reply("A person walks across the plaza.")

    server = FakeOpenAI(respond)
    pred = tmp_path / "pred.jsonl"
    base = ["eval", "predict", "--instructions", str(ds / "instructions_test.jsonl"), "--videos", str(ds),
            "--vlm-url", server.url, "--vlm-model", "fake", "--out", str(pred), "--frames", "4", "--json"]
    try:
        code, text = _run([*base, "--limit", "5"])
        assert code == 0 and json.loads(text)["written"] == 5
        code, text = _run([*base, "--limit", "12"])
        assert code == 0 and json.loads(text) == {**json.loads(text), "written": 7, "resumed": 5}
    finally:
        server.close()
    out = _rows(pred)
    assert [r["id"] for r in out] == [r["id"] for r in rows[:12]]
    assert all(r["anwser"] == "A person walks across the plaza." and r["task"] == g["task"] for r, g in zip(out, rows))
    assert seen and all(1 <= n <= 4 for n in seen)
    # the predictions score with eval captions
    assert _run(["eval", "captions", "--gt", str(ds / "instructions_test.jsonl"), "--pred", str(pred), "--json"])[0] == 0
    capsys.readouterr()
    assert main([*base[:5], str(tmp_path / "no-videos"), *base[6:]]) == 2
    assert "folder not found" in capsys.readouterr().err
    down = [*base]
    down[down.index("--vlm-url") + 1] = "http://127.0.0.1:9/v1"
    assert main(down) == 3
    assert "unreachable" in capsys.readouterr().err


def test_data_video_remakes_footage_at_a_fixed_size_rate_and_length(tmp_path: Path) -> None:
    """`vigil data video`: an image folder and a clip at 10 fps, played in turn and looped,
    come out as one 25 fps file of the asked size and length, each frame held until the next
    is due (so the footage keeps its speed); a missing source is one line and exit 2."""
    import cv2
    from helpers import decode_index, level, write_clip

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(10):  # 1 s at 10 fps
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((48, 64, 3), level(i), np.uint8))
    clip = write_clip(tmp_path / "clip.mp4", 5, fps=10.0, size=(64, 48))  # 0.5 s
    out = tmp_path / "out.mp4"
    assert main(["data", "video", str(folder), str(clip), "--folder-fps", "10", "--fps", "25",
                 "--seconds", "2", "--size", "96x64", "--out", str(out), "--json"]) == 0
    frames = list(open_video(str(out), fps=25, width=96).frames())
    assert len(frames) == 50 and frames[0].image.shape[:2] == (64, 96)
    got = [decode_index(f.image) for f in frames]
    assert got[0] == 0 and got[11] == 4 and got[24] == 9   # the folder at its own 10 fps: frame n / 2.5
    assert got[25] == 0 and got[31] == 2 and got[37] == 4  # then the clip, from 1 s to its end at 1.5 s
    assert got[38] == 0 and got[49] == 4                   # looped: the folder again
    assert not list(tmp_path.glob(".*tmp*"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["data", "video", str(tmp_path / "missing"), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "missing: not found" in err.getvalue() and not (tmp_path / "x.mp4").exists()
