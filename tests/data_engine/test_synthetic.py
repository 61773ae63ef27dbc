"""Synthetic scenes: ground truth that matches the pixels, the zones and the other formats."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from data_engine.synthetic import SynthSpec, synthesize
from perception.source.video import open_video
from vigil.core.config import load_settings
from vigil.core.schemas import ANOMALY_TYPES, frame_labels, load_ground_truth


def _frames(path: Path) -> dict[int, np.ndarray]:
    with open_video(path, fps=1000, width=160) as video:  # every source frame
        return {f.index: f.image.astype(np.float32) for f in video.frames()}


def test_every_type_is_rendered_once_with_consistent_labels(synth_small: Path) -> None:
    truth = load_ground_truth(synth_small / "gt.json")
    kinds = sorted(k for t in truth.values() for _s, _e, k in t.events)
    assert kinds == sorted(ANOMALY_TYPES)
    for name, t in truth.items():
        assert (synth_small / t.path).is_file()
        assert t.labels == frame_labels(t.events, t.n_frames, t.fps)
        if name.endswith("_normal"):
            assert t.events == [] and sum(t.labels) == 0
            continue
        (start, end, kind) = t.events[0]
        assert name.endswith(kind)
        assert 1.0 <= end - start <= t.duration_s
        labelled = {i for i, v in enumerate(t.labels) if v}
        boxed = {b.frame for b in t.boxes}
        assert boxed <= labelled and len(boxed) >= 0.9 * len(labelled)
        for b in t.boxes:
            x1, y1, x2, y2 = b.bbox
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1


def test_actor_boxes_lie_on_the_actor_in_the_video(synth_small: Path) -> None:
    # background: the per-pixel median of the training video, where people keep moving
    train = _frames(next((synth_small / "train").glob("*.mp4")))
    background = np.median(np.stack(list(train.values())[::5]), axis=0)
    truth = load_ground_truth(synth_small / "gt.json")
    for name, t in truth.items():
        if not t.events:
            continue
        frames = _frames(synth_small / t.path)
        inside, beside = [], []
        for b in t.boxes[:: max(1, len(t.boxes) // 12)]:
            img = frames[b.frame]
            img = img * (np.median(background) / max(np.median(img), 1.0))  # undo the lighting drift
            fg = np.abs(img - background).max(axis=2) > 25
            h, w = fg.shape
            x1, y1, x2, y2 = (int(round(b.bbox[0] * w)), int(round(b.bbox[1] * h)),
                              int(round(b.bbox[2] * w)), int(round(b.bbox[3] * h)))
            x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
            inside.append(fg[y1:y2, x1:x2].mean())
            # the same box moved aside by two widths
            shift = 2 * (x2 - x1) if x1 < w / 2 else -2 * (x2 - x1)
            sx1, sx2 = min(max(x1 + shift, 0), w - 1), min(max(x2 + shift, 1), w)
            beside.append(fg[y1:y2, sx1:sx2].mean() if sx2 > sx1 else 0.0)
        assert np.median(inside) > 0.2, f"{name}: the box holds little foreground ({np.median(inside):.2f})"
        assert np.median(inside) > 2.5 * np.median(beside), name


def test_zones_in_the_written_config_match_where_the_actors_are(synth_small: Path) -> None:
    settings = load_settings(synth_small / "vigil.yaml", environ={})
    zones = {z.kind: z for z in settings.camera("plaza", must_exist=True).zones}
    assert set(zones) == {"restricted", "loitering", "pedestrian"}
    truth = load_ground_truth(synth_small / "gt.json")

    def feet_inside(kind: str, zone: str) -> float:
        (t,) = [t for t in truth.values() if t.events and t.events[0][2] == kind]
        feet = [((b.bbox[0] + b.bbox[2]) / 2, b.bbox[3]) for b in t.boxes]
        return float(np.mean([zones[zone].contains(x, y) for x, y in feet]))

    assert feet_inside("intrusion", "restricted") > 0.8
    assert feet_inside("loitering", "loitering") > 0.8
    assert feet_inside("vehicle", "pedestrian") > 0.8
    assert feet_inside("running", "restricted") < 0.2


def test_hivau_and_fgclip_files_describe_the_same_events(synth_small: Path) -> None:
    truth = load_ground_truth(synth_small / "gt.json")
    hivau = json.loads((synth_small / "hivau.json").read_text())
    fgclip = {e["video"]: e for e in json.loads((synth_small / "fgclip.json").read_text())}
    assert set(hivau) == set(truth)
    for name, t in truth.items():
        h = hivau[name]
        assert h["n_frames"] == t.n_frames and h["fps"] == t.fps
        assert len(h["events"]) == len(h["clips"]) == len(h["clips_caption"]) == len(h["events_summary_split"])
        for clips, caps in zip(h["clips"], h["clips_caption"]):
            assert len(clips) == len(caps) and all(isinstance(c, str) and c for c in caps)
        f = fgclip[t.path]
        assert f["global_caption"]
        if t.events:
            start, end, kind = t.events[0]
            assert h["label"] == [ANOMALY_TYPES[kind]]
            assert h["events"] == [[start, end]]
            assert set(h["events_summary_split"][0]) == {"judgement", "description", "analysis"}
            assert h["video_summary_split"]["judgement"] == f"An anomaly exists, specifically named {ANOMALY_TYPES[kind]}."
            assert f["timestamps"] == [[start, end]]
            assert [b["frame"] for b in f["box_infos"][0]] == [b.frame for b in t.boxes]
        else:
            assert h["label"] == [] and "analysis" not in h["video_summary_split"]
            assert h["video_summary_split"]["judgement"] == "No anomaly exists in the video."
            assert f["region_captions"] == [] and f["timestamps"] == [[0.0, t.duration_s]]


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_files(tmp_path: Path) -> None:
    spec = SynthSpec(seed=11, n_train=0, per_type=1, n_normal_test=0, duration=40.0, fps=5.0, width=160, height=120,
                     types=("falling",))
    synthesize(spec, tmp_path / "a")
    synthesize(spec, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    other = SynthSpec(**{**spec.__dict__, "seed": 12})
    synthesize(other, tmp_path / "c")
    assert json.loads((tmp_path / "c" / "gt.json").read_text()) != json.loads((tmp_path / "a" / "gt.json").read_text())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"duration": 10.0}, "at least 40 s"), ({"types": ("teleporting",)}, "unknown anomaly type"),
     ({"width": 161}, "even")],
)
def test_bad_specs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SynthSpec(**kwargs)


# ----------------------------------------------------------------------------- files it writes
_SMALL = ["--train", "0", "--per-type", "0", "--normal", "1", "--fps", "5", "--size", "160x120"]


def test_synth_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder with a vigil.yaml and gt.json of the user's: refused, untouched, nothing rendered; --force overwrites."""
    from vigil.cli import main

    (tmp_path / "vigil.yaml").write_text("# my cameras\n")
    (tmp_path / "gt.json").write_text("{}")
    assert main(["data", "synth", str(tmp_path), *_SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "(2 file(s) would be overwritten); give --force" in err, err
    assert (tmp_path / "vigil.yaml").read_text() == "# my cameras\n" and (tmp_path / "gt.json").read_text() == "{}"
    assert not (tmp_path / "test").exists()
    assert main(["data", "synth", str(tmp_path), *_SMALL, "--force"]) == 0
    assert "cameras:" in (tmp_path / "vigil.yaml").read_text() and (tmp_path / "test" / "test_000_normal.mp4").is_file()


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vigil demo --out DIR` where DIR holds another scene and the user's data: refused, nothing deleted."""
    from vigil.cli import main

    (tmp_path / "scene.json").write_text(json.dumps({"seed": 99, "generator_version": 1}))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not empty and was not made by vigil demo" in err, err
    assert (tmp_path / "data" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "scene.json"]


def test_demo_folder_owns_only_what_the_demo_wrote(tmp_path: Path) -> None:
    """The demo's folder: claimed when new, its scene reused for the same seed, and for another
    seed only the entries it wrote are removed; what a user put beside them stays."""
    from data_engine.owned import MARKER, OwnedFolder, demo_folder
    from data_engine.synthetic import DATASET_ENTRIES, GENERATOR_VERSION
    from vigil.core.errors import DataError

    out = tmp_path / "demo"
    folder, fresh = demo_folder(out, 3)
    assert fresh and set(json.loads((out / MARKER).read_text())["entries"]) == set(DATASET_ENTRIES)
    (out / "test").mkdir()
    (out / "test" / "x.mp4").write_bytes(b"x")
    (out / "scene.json").write_text(json.dumps({"seed": 3, "generator_version": GENERATOR_VERSION}))
    (out / "notes.txt").write_text("mine")
    assert demo_folder(out, 3)[1] is False                       # the same scene: reused
    folder, fresh = demo_folder(out, 4)                          # another seed: its own files go
    assert fresh and not (out / "test").exists() and not (out / "scene.json").exists()
    assert (out / "notes.txt").read_text() == "mine"
    (out / "data").mkdir()                                       # not written by the demo: never removed
    with pytest.raises(DataError, match="was not made by vigil demo"):
        folder.remove("data")
    assert (out / "data").is_dir()
    with pytest.raises(DataError, match="was made by vigil demo, not vigil other"):
        OwnedFolder.claim(out, "vigil other")
