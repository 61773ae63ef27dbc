"""fit -> score -> eval on a small synthetic camera, as a user runs them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from eval.vad import evaluate_files
from vigil.cli import main
from vigil.core.schemas import load_ground_truth


def test_scores_cover_every_frame_and_separate_anomalies(synth_small: Path, fitted_camera: tuple[Path, Path]) -> None:
    _data, scores = fitted_camera
    truth = load_ground_truth(synth_small / "gt.json")
    for name, t in truth.items():
        rows = (scores / f"{name}.csv").read_text().splitlines()
        assert rows[0] == "frame,time_s,score" and len(rows) == t.n_frames + 1
        values = np.array([float(r.split(",")[2]) for r in rows[1:]])
        assert values.min() >= 0.0 and values.max() <= 1.0
    report = evaluate_files(synth_small / "gt.json", scores)
    # measured 0.856 / 0.893, lowest type 0.67 (intrusion, scored without the zones); the motion
    # cells take speeds from optical flow, which real footage needs and this 160x120 renderer's
    # flat bodies starve (blob displacements do better here and cost 0.08 cell AUC on UCSD Ped2)
    assert report.micro_auc > 0.83 and report.macro_auc > 0.85
    assert min(report.by_type.values()) > 0.6, report.by_type


def test_store_holds_every_window_and_candidates_mostly_where_anomalies_are(synth_small: Path, fitted_camera: tuple[Path, Path]) -> None:
    data, _ = fitted_camera
    db = sqlite3.connect(data / "vigil.db")
    truth = load_ground_truth(synth_small / "gt.json")
    with_events, normal_events = 0, 0
    for t in truth.values():
        source = str(synth_small / t.path)
        (n,) = db.execute("SELECT COUNT(*) FROM windows WHERE source = ?", (source,)).fetchone()
        assert n >= t.duration_s - 3  # a window a second
        (events,) = db.execute("SELECT COUNT(*) FROM events WHERE source = ?", (source,)).fetchone()
        if t.events:
            with_events += events > 0
        else:
            normal_events += events
    # candidates are what the agents judge later; on normal footage they must be rare (three
    # here, where two minutes of normal footage do not show every group and car the tests do)
    assert with_events >= 5 and normal_events <= 3
    (indexed,) = db.execute("SELECT COUNT(*) FROM videos WHERE camera_id = 'plaza'").fetchone()
    assert indexed == len(truth)


def test_rescoring_neither_loses_nor_duplicates(synth_small: Path, fitted_camera: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = fitted_camera
    video = str(next((synth_small / "test").glob("*_falling.mp4")))
    db = sqlite3.connect(data / "vigil.db")

    def counts() -> tuple[int, int]:
        w = db.execute("SELECT COUNT(*) FROM windows WHERE source = ?", (video,)).fetchone()[0]
        e = db.execute("SELECT COUNT(*) FROM events WHERE source = ?", (video,)).fetchone()[0]
        return w, e

    before = counts()
    assert main(["--data-dir", str(data), "score", video, "--camera", "plaza", "--out", str(tmp_path / "x.csv")]) == 0
    assert counts() == before and before[1] >= 1


def test_a_scored_video_is_not_taken_for_one_watched_for_questions(synth_small: Path, fitted_camera: tuple[Path, Path],
                                                                    tmp_path: Path) -> None:
    import shutil

    from agents.ask import AskContext, AskScope
    from vigil.core.store import Store

    data = tmp_path / "data"
    shutil.copytree(fitted_camera[0] / "plaza" / "profile", data / "plaza" / "profile")
    video = str(next((synth_small / "test").glob("*_falling.mp4")))
    score = ["--data-dir", str(data), "score", video, "--camera", "plaza", "--out", str(tmp_path / "x.csv")]

    def indexed() -> bool:
        with Store(data / "vigil.db") as store:
            return AskContext(store, AskScope()).indexed(video, "plaza")

    assert main(score) == 0 and not indexed()  # no event judged yet: a question would watch it first
    assert main(["--data-dir", str(data), "watch", video, "--camera", "plaza"]) == 0 and indexed()
    assert main(score) == 0 and indexed()  # scoring it again does not undo the watch


def test_ats_beats_uniform_on_focus_and_top_k_on_context(synth_small: Path, fitted_camera: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _data, scores = fitted_camera
    assert main(["eval", "sampler", "--gt", str(synth_small / "gt.json"), "--scores", str(scores), "--json"]) == 0
    rows = {(r["sampler"], r["n"]): r for r in json.loads(capsys.readouterr().out)["rows"]}
    for n in (8, 16, 32):
        assert rows["ats", n]["in_anomaly"] > rows["uniform", n]["in_anomaly"]
        assert rows["ats", n]["context"] > rows["topk", n]["context"]


def test_bench_reports_ratios_and_stages(fitted_camera: tuple[Path, Path], synth_small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = fitted_camera
    video = str(next((synth_small / "test").glob("*_normal.mp4")))
    assert main(["--data-dir", str(data), "bench", video, "--camera", "plaza", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["decode_fps"] > 0 and report["pipeline_fps"] > 0
    assert report["ratio"] == pytest.approx(report["pipeline_fps"] / report["decode_fps"], rel=0.01)
    assert {"decode_wait", "encode", "score", "events"} <= set(report["stage_ms_per_window"])


def test_type_head_from_labels(synth_small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = sorted(str(p) for p in (synth_small / "train").glob("*.mp4"))
    assert main(["--data-dir", str(tmp_path), "fit", "--camera", "typed", "--normal", *train,
                 "--labels", str(synth_small / "gt.json"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "normal" in summary["type_head"] and "falling" in summary["type_head"]


def test_unknown_camera_and_unreadable_video_fail_in_one_line(tmp_path: Path, synth_small: Path, fitted_camera: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = fitted_camera
    video = str(next((synth_small / "test").glob("*.mp4")))
    assert main(["--data-dir", str(data), "score", video, "--camera", "garage", "--out", str(tmp_path / "a.csv")]) == 2
    assert "camera 'garage' has no fitted profile; run: vigil fit --camera garage" in capsys.readouterr().err
    assert main(["--data-dir", str(data), "score", str(tmp_path / "nope.mp4"), "--camera", "plaza", "--out", str(tmp_path / "b.csv")]) == 2
    assert "video not found" in capsys.readouterr().err
    assert main(["--data-dir", str(data), "fit", "--camera", "x", "--normal", video, "--encoder", "flow"]) == 2
    assert "unknown encoder; choose one of: motion, vjepa2" in capsys.readouterr().err


def test_a_profile_copied_to_another_camera_stores_under_that_camera(synth_small: Path, fitted_camera: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    data, _ = fitted_camera
    copy = tmp_path / "data"
    shutil.copytree(data / "plaza" / "profile", copy / "gate" / "profile")
    video = str(next((synth_small / "test").glob("*_falling.mp4")))
    assert main(["--data-dir", str(copy), "score", video, "--camera", "gate", "--out", str(tmp_path / "g.csv")]) == 0
    db = sqlite3.connect(copy / "vigil.db")
    cameras = {r[0] for r in db.execute("SELECT camera_id FROM windows UNION SELECT camera_id FROM events")}
    ids = [r[0] for r in db.execute("SELECT event_id FROM events")]
    assert cameras == {"gate"} and ids and all(i.startswith("gate-") for i in ids)
