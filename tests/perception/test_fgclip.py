"""FG-CLIP: the dataset loads the right frames and boxes, the region loss sees only the boxes
that are there, and training on synthetic footage lowers both losses (a tiny random CLIP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="FG-CLIP needs torch (the train extra)")
pytest.importorskip("transformers", reason="FG-CLIP needs transformers (the train extra)")
pytest.importorskip("accelerate", reason="FG-CLIP training needs accelerate (the train extra)")

from perception.fgclip.data import FGClipDataset, collate_fgclip, load_annotations  # noqa: E402
from perception.fgclip.model import FGClip, tiny_clip  # noqa: E402


@pytest.fixture(scope="module")
def tiny(synth_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    entries = load_annotations(synth_small / "fgclip.json")
    texts = [e.global_caption for e in entries] + [c for e in entries for c in e.region_captions]
    return tiny_clip(tmp_path_factory.mktemp("tiny-clip"), texts)


def test_a_normal_video_loads_its_timestamped_segment_and_an_anomaly_video_all_of_itself(synth_small: Path) -> None:
    import cv2

    from perception.source.video import open_video

    entries = load_annotations(synth_small / "fgclip.json")
    normal = next(e for e in entries if e.normal).model_copy(update={"timestamps": [[10.0, 20.0]]})
    anomaly = next(e for e in entries if not e.normal and e.timestamps and e.segment()[0] > 5)
    data = FGClipDataset([normal, anomaly], synth_small, frames=6, size=64, cache=False)
    s = data[0]
    assert s.times.min() >= 10.0 - 1e-3 and s.times.max() <= 20.0 and s.times.max() - s.times.min() > 8.0
    assert s.boxes.shape == (6, 1, 4) and s.bbox_mask.all() and np.allclose(s.boxes, [0, 0, 1, 1])
    assert s.region_captions == [normal.global_caption]
    # the pixels are the frames at those times
    with open_video(synth_small / normal.video, fps=1000.0, width=64) as video:
        at = next(iter(video.frames(float(s.times[0]), float(s.times[0]) + 0.05)))
    direct = cv2.resize(at.image, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(direct.astype(int) - s.frames[0].astype(int)).mean() < 2.0
    a = data[1]
    assert a.times.min() < 1.0 and a.times.max() > 35.0  # the whole video, not its anomaly's stretch
    annotated = {b.frame for b in anomaly.box_infos[0]}
    start, end = anomaly.segment()
    inside = (a.times >= start - 0.5) & (a.times <= end + 0.5)
    assert a.bbox_mask[:, 0].any() and not a.bbox_mask[~inside, 0].any()
    assert len(annotated) > 0


def test_the_region_loss_ignores_boxes_the_mask_leaves_out(synth_small: Path, tiny: Path) -> None:
    entries = [e for e in load_annotations(synth_small / "fgclip.json")][:4]
    data = FGClipDataset(entries, synth_small, frames=4, size=64)
    batch = collate_fgclip([data[i] for i in range(len(entries))])
    assert (~batch["bbox_mask"]).any() and batch["bbox_mask"].any()
    clip = FGClip.load(tiny)
    clip.model.eval()
    with torch.no_grad():
        base = clip.losses(batch)
        moved = dict(batch, boxes=batch["boxes"].clone())
        moved["boxes"][~batch["bbox_mask"]] = torch.tensor([0.05, 0.6, 0.4, 0.95])
        same = clip.losses(moved)
        shifted = dict(batch, boxes=batch["boxes"].clone())
        shifted["boxes"][batch["bbox_mask"]] = torch.tensor([0.6, 0.05, 0.95, 0.4])
        other = clip.losses(shifted)
    assert torch.equal(base["region"], same["region"]) and torch.equal(base["global"], same["global"])
    assert not torch.allclose(base["region"], other["region"])  # boxes that are there do count
    assert torch.equal(base["global"], other["global"])


def test_forty_cpu_steps_lower_both_losses_and_a_resumed_run_continues(synth_small: Path, tmp_path: Path,
                                                                       capsys: Any) -> None:
    from transformers import CLIPModel

    from vigil.cli import main

    out = tmp_path / "run"
    args = ["train", "fgclip", "--annotations", str(synth_small / "fgclip.json"), "--videos", str(synth_small),
            "--model", "tiny-random", "--lr", "1e-3", "--save-every", "20", "--out", str(out), "--json"]
    assert main([*args, "--steps", "40"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["steps"] == 40 and first["resumed_from"] == 0
    assert first["loss_global_last"] <= 0.8 * first["loss_global_first"], first
    assert first["loss_region_last"] <= 0.8 * first["loss_region_first"], first
    assert main([*args, "--steps", "44", "--resume"]) == 0
    more = json.loads(capsys.readouterr().out)
    assert more["resumed_from"] == 40 and more["steps"] == 44
    assert more["loss_global_first"] == first["loss_global_first"]  # the history carries on
    state = json.loads((out / "train_state.json").read_text())
    assert state["step"] == 44 and len(state["losses_global"]) == 44
    assert CLIPModel.from_pretrained(out / "model").config.projection_dim == 64
    # a pickle planted in the checkpoint is refused with one line, unrun
    marker = tmp_path / "ran"
    torch.save({"state": _Planted(marker)}, out / "checkpoint" / "optimizer.bin")
    assert main([*args, "--steps", "48", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert not marker.exists()
    assert len(err) == 1 and "refused" in err[0] and "start over without --resume" in err[0], err


class _Planted:
    """A pickle payload: unpickling it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_bad_training_input_is_one_line(synth_small: Path, tmp_path: Path, capsys: Any) -> None:
    from vigil.cli import main

    base = ["train", "fgclip", "--videos", str(synth_small), "--model", "tiny-random", "--out", str(tmp_path / "o")]
    assert main([*base, "--annotations", str(tmp_path / "none.json")]) == 2
    assert "annotations not found" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"video": "a.mp4", "global_caption": "x", "region_captions": ["r"],
                                "box_infos": [[{"frame": 1, "bbox": [0.5, 0.5, 0.2, 0.9]}]]}]))
    assert main([*base, "--annotations", str(bad)]) == 2
    assert "entry 0" in capsys.readouterr().err
    assert main([*base, "--annotations", str(synth_small / "fgclip.json"), "--batch-size", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main([*base, "--annotations", str(synth_small / "fgclip.json"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_the_zero_shot_scorer_fits_scores_and_survives_a_reload(synth_small: Path, tiny: Path, tmp_path: Path,
                                                                capsys: Any) -> None:
    import csv

    from perception.profile import CameraProfile
    from vigil.cli import main

    data = tmp_path / "data"
    train = sorted(str(p) for p in (synth_small / "train").glob("*.mp4"))
    base = ["--config", str(synth_small / "vigil.yaml"), "--data-dir", str(data)]
    assert main([*base, "fit", "--camera", "plaza", "--normal", *train, "--scorer", "fgclip"]) == 2
    assert "--scorer-set model=DIR" in capsys.readouterr().err
    assert main([*base, "fit", "--camera", "plaza", "--normal", *train, "--scorer", "fgclip",
                 "--scorer-set", f"model={tiny}", "--scorer-set", "batch_size=8"]) == 0
    capsys.readouterr()
    profile = CameraProfile.load(data / "plaza" / "profile")
    assert profile.scorer_name == "fgclip" and profile.frame_scorer.colour
    assert (data / "plaza" / "profile" / "fgclip-model" / "config.json").is_file()  # the model travels with the profile
    video = next(p for p in sorted((synth_small / "test").glob("*.mp4")))
    out = tmp_path / "s.csv"
    assert main([*base, "score", str(video), "--camera", "plaza", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    scores = np.array([float(r["score"]) for r in rows])
    assert len(rows) > 300 and scores.min() >= 0 and scores.max() <= 1 and scores.std() > 0
    assert {r["type"] for r in rows} <= set(profile.frame_scorer.types)  # each frame's best-fitting type is named
    stream = profile.frame_scorer.stream()
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    for i, f in enumerate(frames):
        stream.push(float(i), f)
    assert len(stream.flush()) == 3 and {t for _, t in stream.types} <= set(profile.frame_scorer.types)
