"""Learned frame scorers (AED-MAE, future-frame prediction, MAML) with tiny models on synthetic frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import write_clip

from perception.learned import FrameScorer, frame_scorer_class
from perception.learned.framepred import FramePredConfig
from perception.learned.maml import MetaConfig, meta_train
from vigil.core.errors import DataError

H, W = 32, 48


def walkers(n: int = 80, seed: int = 0, speed: float = 1.0, level: int = 80) -> np.ndarray:
    """Normal footage: two dark squares walking slowly across a textured background."""
    rng = np.random.default_rng(seed)
    background = (level + 20 * np.sin(np.arange(W) / 3.0)[None, :] + 10 * np.cos(np.arange(H) / 4.0)[:, None])
    frames = np.empty((n, H, W), np.uint8)
    x0, x1 = rng.integers(0, W - 6, size=2)
    for i in range(n):
        f = background + rng.normal(0, 2, (H, W))
        a = int(x0 + speed * i) % (W - 6)
        b = int(x1 - speed * i) % (W - 6)
        f[8:16, a:a + 5] = 30
        f[18:26, b:b + 5] = 40
        frames[i] = np.clip(f, 0, 255)
    return frames


def with_speeder(frames: np.ndarray, start: int) -> np.ndarray:
    """The same footage with a bright object racing across from frame ``start`` (the anomaly)."""
    out = frames.copy()
    for i in range(start, len(out)):
        x = (5 * (i - start)) % (W - 8)
        out[i, 12:22, x:x + 7] = 230
    return out


def _anomaly_gap(scorer: FrameScorer, normal: np.ndarray, start: int) -> tuple[float, float]:
    """(mean score of the anomalous frames, mean score of the same frames without the anomaly)."""
    t_clean, clean = scorer.score_video(normal)
    t_anom, anom = scorer.score_video(with_speeder(normal, start))
    keep = t_anom >= start + 3
    return float(np.mean(anom[keep])), float(np.mean(clean[t_clean >= start + 3]))


@pytest.mark.parametrize("name,settings", [
    ("framepred", {"size": 48, "width": 6, "steps": 120, "batch_size": 4, "lr": 3e-3}),
    ("aedmae", {"size": 48, "dim": 32, "heads": 2, "depth": 2, "steps": 120, "batch_size": 4, "lr": 2e-3,
                "student_steps": 60}),
])
def test_training_lowers_the_loss_and_an_anomaly_scores_above_clean_frames(name: str, settings: dict) -> None:
    scorer = frame_scorer_class(name).create((H, W), **settings)
    train = [walkers(seed=s) for s in range(3)]
    reports = scorer.train(train)
    for r in reports:
        assert r.loss_last < r.loss_first, (r.stage, r.loss_first, r.loss_last)
    scorer.fit_scales([walkers(seed=7)])
    anomalous, clean = _anomaly_gap(scorer, walkers(seed=9), start=30)
    assert anomalous > 1.5 * clean, (anomalous, clean)


def test_aedmae_pastes_foreground_crops_with_their_masks() -> None:
    from perception.learned.aedmae import foreground_crops, paste

    rng = np.random.default_rng(0)
    crops = foreground_crops([walkers()], gap=1, rng=rng, limit=20)
    assert crops and all(c.mask.any() for c in crops)
    frames = walkers(3)
    pasted, mask = paste(frames, crops[0], rng)
    assert mask.any() and mask.shape == (H, W)
    # the last frame changed exactly where the mask says (and only there)
    changed = pasted[-1] != frames[-1]
    assert not changed[mask == 0].any()


def test_training_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "framepred.ckpt"
    scorer = frame_scorer_class("framepred").create((H, W), size=48, width=4, steps=20, checkpoint_every=5)

    class Interrupted(Exception):
        pass

    def stop_at_12(stage: str, step: int, total: int, loss: float) -> None:
        if step == 12:
            raise Interrupted

    with pytest.raises(Interrupted):
        scorer.train([walkers()], progress=stop_at_12, checkpoint=ckpt)
    again = frame_scorer_class("framepred").create((H, W), size=48, width=4, steps=20, checkpoint_every=5)
    (report,) = again.train([walkers()], checkpoint=ckpt, resume=True)
    assert report.resumed_from == 10 and report.steps == 20


class _Planted:
    """A pickle payload: unpickling it creates ``marker`` (what a planted file could do instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_a_planted_pickle_in_the_camera_checkpoint_is_refused_unrun(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """fit --resume loads <data>/<camera>/train/<scorer>.ckpt: tensors and plain values only."""
    import torch

    from vigil.cli import main

    clips = [str(write_clip(tmp_path / f"n{i}.mp4", 60, fps=10.0, size=(96, 64))) for i in range(2)]
    data = tmp_path / "data"
    ckpt = data / "c" / "train" / "aedmae.ckpt"
    ckpt.parent.mkdir(parents=True)
    marker = tmp_path / "ran"
    torch.save({"stage": "teacher", "step": 1, "model": {}, "optimiser": _Planted(marker)}, ckpt)
    fit = ["--data-dir", str(data), "fit", "--camera", "c", "--normal", *clips, "--detector", "none",
           "--scorer", "aedmae", "--steps", "2", "--scorer-set", "size=48", "--scorer-set", "dim=32",
           "--scorer-set", "heads=2", "--scorer-set", "depth=2", "--scorer-set", "student_steps=1"]
    assert main([*fit, "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert not marker.exists()
    assert len(err) == 1 and "refused" in err[0] and "start over without --resume" in err[0], err
    assert not (data / "c" / "profile" / "scorer.pt").exists()
    # the advice works: without --resume the run starts afresh and replaces the file
    assert main(fit) == 0
    assert not marker.exists() and not ckpt.exists() and (data / "c" / "profile" / "scorer.pt").is_file()
    # the other weights files load the same way: a planted meta-initialisation is refused unrun too
    torch.save({"weight": _Planted(marker)}, tmp_path / "init.pt")
    scorer = frame_scorer_class("framepred").create((H, W), size=48, width=4, steps=1, meta_init=str(tmp_path / "init.pt"))
    with pytest.raises(DataError, match="GLOBAL exec"):
        scorer.train([walkers()])
    assert not marker.exists()


def test_maml_initialisation_is_written_and_adaptation_starts_from_it(tmp_path: Path) -> None:
    import torch

    cfg = FramePredConfig(size=48, width=4)
    tasks = [[walkers(seed=s, speed=sp, level=lv)] for s, sp, lv in ((0, 1.0, 70), (1, 2.0, 110), (2, 1.5, 150))]
    out = tmp_path / "init.pt"
    report = meta_train(tasks, cfg, MetaConfig(steps=12, tasks_per_step=2, inner_steps=1, batch_size=2, warmup_steps=4), out)
    assert out.is_file() and report.steps == 12
    second = meta_train(tasks, cfg, MetaConfig(steps=3, inner_steps=1, batch_size=2, first_order=False, warmup_steps=0), tmp_path / "so.pt")
    assert second.steps == 3  # second-order MAML runs too
    init = torch.load(out, weights_only=True)
    adapted = frame_scorer_class("framepred").create((H, W), size=48, width=4, steps=1, lr=1e-9, meta_init=str(out))
    adapted.train([walkers(seed=5)])
    # one step at a negligible learning rate: the weights are the initialisation's
    for key, value in adapted.model.state_dict().items():
        assert torch.allclose(value, init[key], atol=1e-5), key


def test_adaptation_budget_limits_the_frames() -> None:
    from perception.learned.framepred import budget

    parts = budget([walkers(50), walkers(50)], 70)
    assert [len(p) for p in parts] == [50, 20]


def test_a_missing_meta_initialisation_names_the_command(tmp_path: Path) -> None:
    from vigil.core.errors import DataError

    bad = tmp_path / "init.pt"
    bad.write_bytes(b"not weights")
    scorer = frame_scorer_class("framepred").create((H, W), size=48, width=4, steps=1, meta_init=str(bad))
    with pytest.raises(DataError, match="--meta-train"):
        scorer.train([walkers()])


def test_unknown_scorer_settings_are_named() -> None:
    from vigil.core.errors import ConfigError

    with pytest.raises(ConfigError, match="colour"):
        frame_scorer_class("aedmae").create((H, W), colour=1)
    with pytest.raises(ConfigError, match="region"):
        frame_scorer_class("framepred").create((H, W), region="everywhere")


def test_fit_score_and_evaluate_with_a_frame_scorer(synth_small: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The CLI path: fit --scorer framepred, score (both normalisations), eval vad, bench, a damaged profile."""
    from vigil.cli import main

    data = tmp_path / "data"
    train = sorted(str(p) for p in (synth_small / "train").glob("*.mp4"))
    test = sorted(str(p) for p in (synth_small / "test").glob("*.mp4"))
    cfg = str(synth_small / "vigil.yaml")
    assert main(["--data-dir", str(data), "--config", cfg, "fit", "--camera", "plaza", "--normal", *train,
                 "--detector", "none", "--scorer", "framepred", "--steps", "30",
                 "--scorer-set", "size=48", "--scorer-set", "width=4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scorer"] == "framepred" and summary["training"][0]["steps"] == 30
    assert (data / "plaza" / "profile" / "scorer.pt").is_file()
    assert not (data / "plaza" / "train" / "framepred.ckpt").exists()
    for flag, folder in (([], "s"), (["--per-video"], "p")):
        assert main(["--data-dir", str(data), "--config", cfg, "score", *test, "--camera", "plaza",
                     "--out", str(tmp_path / folder), *flag]) == 0
    capsys.readouterr()
    per_video = np.loadtxt(tmp_path / "p" / (Path(test[0]).stem + ".csv"), delimiter=",", skiprows=1)[:, 2]
    assert per_video.min() == 0.0 and per_video.max() == 1.0
    calibrated = np.loadtxt(tmp_path / "s" / (Path(test[0]).stem + ".csv"), delimiter=",", skiprows=1)[:, 2]
    assert calibrated.min() >= 0.0 and calibrated.max() <= 1.0 and calibrated.std() > 0
    assert main(["eval", "vad", "--gt", str(synth_small / "gt.json"), "--scores", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_videos"] == len(test)
    assert main(["--data-dir", str(data), "--config", cfg, "bench", test[0], "--camera", "plaza", "--json",
                 "--max-seconds", "8"]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["scorer"] == "framepred" and bench["scorer_fps"] > 0 and bench["stage_ms_per_window"]["frame_scorer"] > 0
    # damaged weights: one line naming the fix, exit 2
    (data / "plaza" / "profile" / "scorer.pt").write_bytes(b"\x00" * 64)
    assert main(["--data-dir", str(data), "--config", cfg, "score", test[0], "--camera", "plaza",
                 "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fit the camera again" in err[0]


def test_frame_scorer_options_need_a_frame_scorer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from vigil.cli import main

    assert main(["--data-dir", str(tmp_path), "fit", "--camera", "c", "--normal", "x.mp4", "--steps", "5"]) == 2
    assert "apply to --scorer aedmae, framepred or fgclip" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path), "fit", "--camera", "c", "--normal", "x.mp4", "--scorer", "aedmae",
                 "--adapt-frames", "5"]) == 2
    assert "--scorer framepred" in capsys.readouterr().err


def test_compare_puts_the_scorers_side_by_side(synth_small: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from vigil.cli import main

    truth = json.loads((synth_small / "gt.json").read_text())
    keep = {k: v for k, v in truth.items() if k.endswith(("running", "vehicle", "normal"))}
    (tmp_path / "gt.json").write_text(json.dumps(keep))
    train = sorted(str(p) for p in (synth_small / "train").glob("*.mp4"))
    test = [str(synth_small / v["path"]) for v in keep.values()]
    assert main(["--config", str(synth_small / "vigil.yaml"), "eval", "compare", "--camera", "plaza",
                 "--normal", *train, "--videos", *test, "--gt", str(tmp_path / "gt.json"),
                 "--scorers", "motion,framepred", "--steps", "20", "--set", "framepred.size=48",
                 "--set", "framepred.width=4", "--out", str(tmp_path / "cmp"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["scorer"]: r for r in report["rows"]}
    assert set(rows) == {"motion", "framepred"}
    assert rows["motion"]["ratio_to_default"] == 1.0 and rows["framepred"]["scorer_fps"] > 0
    assert all(0.0 <= rows[n]["micro_auc"] <= 1.0 for n in rows)
    assert (tmp_path / "cmp" / "profiles" / "framepred" / "scorer.pt").is_file()
    assert main(["eval", "compare", "--camera", "plaza", "--normal", *train, "--videos", *test, "--gt", "x",
                 "--scorers", "motion,clip", "--out", str(tmp_path / "c2")]) == 2
    assert "--scorers" in capsys.readouterr().err


def test_a_scorer_saved_with_other_score_components_asks_for_a_refit(tmp_path: Path) -> None:
    from vigil.core.errors import DataError

    scorer = frame_scorer_class("aedmae").create((H, W), size=48, dim=32, heads=2, depth=2)
    scorer.normal_scale = {n: (0.0, 1.0) for n in scorer.component_names()}
    scorer.save(tmp_path / "scorer.pt")
    settings = scorer.settings()
    assert FrameScorer.restore(settings, tmp_path / "scorer.pt").component_names() == scorer.component_names()
    older = {**settings, "normal_scale": {"teacher_error": [0.0, 1.0], "student_gap": [0.0, 1.0],
                                          "class_score": [0.0, 1.0]}}
    with pytest.raises(DataError, match="fit the camera again"):
        FrameScorer.restore(older, tmp_path / "scorer.pt")
