"""VAD metrics checked against values computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.vad import evaluate_files
from vigil.core.errors import DataError


def _write(tmp_path: Path, truth: dict, scores: dict[str, list[float]]) -> tuple[Path, Path]:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(truth))
    folder = tmp_path / "scores"
    folder.mkdir(exist_ok=True)
    for name, values in scores.items():
        rows = ["frame,time_s,score"] + [f"{i},{i / 10:.3f},{v}" for i, v in enumerate(values)]
        (folder / f"{name}.csv").write_text("\n".join(rows) + "\n")
    return gt, folder


def _video(labels: list[int], events: list) -> dict:
    return {"fps": 10.0, "n_frames": len(labels), "labels": labels, "events": events}


def test_metrics_match_hand_computed_values(tmp_path: Path) -> None:
    truth = {
        # AUC 0.75: of the 4 (anomalous, normal) pairs, 3 rank correctly
        "a": _video([0, 0, 1, 1], [[0.2, 0.4, "falling"]]),
        # perfect separation: AUC 1
        "b": _video([1, 0, 0], [[0.0, 0.1, "running"]]),
        "n": _video([0, 0], []),
    }
    scores = {"a": [0.1, 0.4, 0.35, 0.8], "b": [0.9, 0.2, 0.3], "n": [0.5, 0.05]}
    report = evaluate_files(*_write(tmp_path, truth, scores))
    assert report.n_videos == 3 and report.n_frames == 9
    # micro: positives {0.35, 0.8, 0.9}; negatives {0.1, 0.4, 0.2, 0.3, 0.5, 0.05}
    # pairs won: 0.35 beats 0.1, 0.2, 0.3, 0.05 (4); 0.8 and 0.9 beat all 6 -> 16 of 18
    assert report.micro_auc == pytest.approx(16 / 18)
    assert report.macro_auc == pytest.approx((0.75 + 1.0) / 2)
    # AP: ranked 0.9+ 0.8+ 0.5- 0.4- 0.35+ ... -> precision at each hit 1, 1, 3/5 -> mean 13/15
    assert report.ap == pytest.approx((1 + 1 + 3 / 5) / 3)
    # per type: falling = video a + normal n; positives {0.35, 0.8} vs {0.1, 0.4, 0.5, 0.05}
    # 0.35 beats 0.1 and 0.05 (2), 0.8 beats all 4 -> 6 of 8
    assert report.by_type == {"falling": pytest.approx(6 / 8), "running": pytest.approx(1.0)}
    rows = {r.video: r for r in report.videos}
    assert rows["a"].auc == pytest.approx(0.75) and rows["n"].auc is None


def test_missing_or_misaligned_scores_are_explained(tmp_path: Path) -> None:
    truth = {"a": _video([0, 1], [[0.1, 0.2, "falling"]]), "b": _video([0, 0], [])}
    gt, folder = _write(tmp_path, truth, {"a": [0.1, 0.9]})
    with pytest.raises(DataError, match="no scores for 1 video.*: b"):
        evaluate_files(gt, folder)
    gt, folder = _write(tmp_path, truth, {"a": [0.1, 0.9], "b": [0.2]})
    with pytest.raises(DataError, match="b: 1 scores for 2 frames"):
        evaluate_files(gt, folder)
    (folder / "b.csv").write_text("frame,time_s,score\n0,0,0.1\n1,0.1,oops\n")
    with pytest.raises(DataError, match=r"b.csv:3: frame and score must be numbers"):
        evaluate_files(gt, folder)
    (folder / "b.csv").write_text("frame,value\n0,0.1\n")
    with pytest.raises(DataError, match="missing column"):
        evaluate_files(gt, folder)


def test_malformed_ground_truth_is_explained(tmp_path: Path) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"a": {"fps": 10, "n_frames": 3, "labels": [0, 1]}}))
    with pytest.raises(DataError, match="video 'a': labels has 2 entries but n_frames is 3"):
        evaluate_files(gt, tmp_path)
    gt.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        evaluate_files(gt, tmp_path)
