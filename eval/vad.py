"""Frame-level video anomaly detection metrics: micro/macro ROC AUC, AP, per type, per video.

Scores come as one CSV per video, ``<video>.csv`` with the header ``frame,time_s,score`` and
one row per source frame (the format ``vigil score`` writes). Ground truth is ``gt.json``
(:mod:`vigil.core.schemas`).

- micro AUC: all frames of all videos concatenated (the usual UCF-Crime protocol);
- macro AUC: the mean of per-video AUCs over videos that contain both classes;
- AP: average precision over all frames;
- per type: AUC over the frames of videos with that type plus every normal-only video.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from vigil.core.errors import DataError
from vigil.core.schemas import VideoTruth, load_ground_truth


@dataclass
class VideoScore:
    """Metrics of one video."""

    video: str
    n_frames: int
    anomalous_frames: int
    types: list[str]
    auc: float | None
    ap: float | None


@dataclass
class VadReport:
    """Everything ``vigil eval vad`` prints."""

    micro_auc: float | None
    macro_auc: float | None
    ap: float | None
    n_videos: int
    n_frames: int
    by_type: dict[str, float | None] = field(default_factory=dict)
    videos: list[VideoScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def read_scores(path: Path) -> np.ndarray:
    """Per-frame scores from a ``frame,time_s,score`` CSV, ordered by frame.

    Raises:
        DataError: a missing column, a non-numeric or NaN score, or gaps in the frame numbers.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"frame", "score"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected frame,time_s,score")
            frames, scores = [], []
            for line, row in enumerate(reader, start=2):
                try:
                    frames.append(int(row["frame"]))
                    scores.append(float(row["score"]))
                except (TypeError, ValueError):
                    raise DataError(f"{path}:{line}: frame and score must be numbers, got {row}") from None
                if not math.isfinite(scores[-1]):
                    raise DataError(f"{path}:{line}: score is {scores[-1]}")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    order = np.argsort(frames, kind="stable")
    frames_arr = np.asarray(frames)[order]
    if frames_arr.size and not np.array_equal(frames_arr, np.arange(frames_arr.size)):
        raise DataError(f"{path}: frames must be numbered 0..N-1 without gaps or repeats")
    return np.asarray(scores, dtype=np.float64)[order]


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if labels.min() == labels.max():
        return None
    return float(roc_auc_score(labels, scores))


def _ap(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if labels.max() == 0:
        return None
    return float(average_precision_score(labels, scores))


def evaluate(truth: dict[str, VideoTruth], scores: dict[str, np.ndarray]) -> VadReport:
    """Compute the report from ground truth and per-video frame scores.

    Raises:
        DataError: a video without scores, or a score count that differs from ``n_frames``.
    """
    missing = sorted(set(truth) - set(scores))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"no scores for {len(missing)} video(s) in the ground truth: {shown}")
    notes: list[str] = []
    extra = sorted(set(scores) - set(truth))
    if extra:
        notes.append(f"ignored {len(extra)} score file(s) with no ground truth: {', '.join(extra[:5])}")
    rows: list[VideoScore] = []
    all_labels, all_scores = [], []
    for name in sorted(truth):
        t = truth[name]
        s = scores[name]
        if len(s) != t.n_frames:
            raise DataError(f"{name}: {len(s)} scores for {t.n_frames} frames; write one row per source frame")
        y = np.asarray(t.labels, dtype=np.int64)
        all_labels.append(y)
        all_scores.append(s)
        rows.append(VideoScore(name, t.n_frames, int(y.sum()), t.event_types, _auc(y, s), _ap(y, s)))
    labels = np.concatenate(all_labels)
    flat = np.concatenate(all_scores)
    micro = _auc(labels, flat)
    if micro is None:
        notes.append("micro AUC undefined: the ground truth has only one class")
    per_video = [r.auc for r in rows if r.auc is not None]
    full = [r.video for r in rows if r.anomalous_frames == r.n_frames]
    if full:
        notes.append(f"macro AUC skips {len(full)} video(s) labelled anomalous throughout")
    by_type: dict[str, float | None] = {}
    normal = [name for name in sorted(truth) if not truth[name].events]
    for kind in sorted({k for t in truth.values() for k in t.event_types}):
        members = [name for name in sorted(truth) if kind in truth[name].event_types] + normal
        y = np.concatenate([np.asarray(truth[n].labels) for n in members])
        s = np.concatenate([scores[n] for n in members])
        by_type[kind] = _auc(y, s)
    return VadReport(
        micro_auc=micro,
        macro_auc=float(np.mean(per_video)) if per_video else None,
        ap=_ap(labels, flat),
        n_videos=len(rows),
        n_frames=int(labels.size),
        by_type=by_type,
        videos=rows,
        notes=notes,
    )


def evaluate_files(gt_path: str | Path, scores_dir: str | Path) -> VadReport:
    """Read ``gt.json`` and ``<scores_dir>/<video>.csv`` files and evaluate them."""
    truth = load_ground_truth(gt_path)
    folder = Path(scores_dir)
    if not folder.is_dir():
        raise DataError(f"scores folder not found: {folder}")
    scores = {p.stem: read_scores(p) for p in sorted(folder.glob("*.csv"))}
    if not scores:
        raise DataError(f"{folder}: no score files (<video>.csv with frame,time_s,score)")
    return evaluate(truth, scores)


def format_report(report: VadReport) -> str:
    """Human-readable table."""

    def f(x: float | None) -> str:
        return "  n/a " if x is None else f"{x:6.4f}"

    lines = [
        f"videos {report.n_videos}   frames {report.n_frames}",
        f"micro AUC {f(report.micro_auc)}   macro AUC {f(report.macro_auc)}   AP {f(report.ap)}",
    ]
    if report.by_type:
        lines.append("")
        lines.append("type                 AUC")
        lines += [f"{kind:<18} {f(auc)}" for kind, auc in report.by_type.items()]
    lines.append("")
    lines.append(f"{'video':<32} {'frames':>7} {'anom':>6} {'AUC':>7} {'AP':>7}")
    for r in report.videos:
        lines.append(f"{r.video:<32} {r.n_frames:>7} {r.anomalous_frames:>6} {f(r.auc):>7} {f(r.ap):>7}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
