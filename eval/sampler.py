"""How well a frame sampler serves a vision-language model: focus versus context.

For every test video with an anomaly and every N, each sampler picks N frames from the
per-frame scores. Two numbers per sampler and N, averaged over videos:

- ``in_anomaly``: the share of sampled frames that lie inside the ground-truth anomaly
  (focus: what the model is shown of the event);
- ``context``: the share of the video's N equal segments that hold at least one sampled frame
  (coverage: how much of the story around the event the model still sees).

Uniform sampling has full context and little focus, top-k the reverse; ATS should sit between:
more focus than uniform, more context than top-k.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from eval.vad import read_scores
from perception.sampler import get_sampler
from vigil.core.errors import DataError
from vigil.core.schemas import load_ground_truth

SAMPLER_NAMES = ("ats", "uniform", "topk")


@dataclass
class SamplerRow:
    """One sampler at one N."""

    sampler: str
    n: int
    in_anomaly: float
    context: float
    videos: int


@dataclass
class SamplerReport:
    """Everything ``vigil eval sampler`` prints."""

    rows: list[SamplerRow] = field(default_factory=list)
    anomaly_share: float = 0.0  # share of frames inside anomalies in the evaluated videos

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def context_coverage(indices: np.ndarray, num_frames: int, n: int) -> float:
    """Share of the video's ``n`` equal segments containing at least one sampled frame."""
    if num_frames <= 0 or n <= 0 or len(indices) == 0:
        return 0.0
    bins = np.minimum((np.asarray(indices) * n) // num_frames, n - 1)
    return len(np.unique(bins)) / float(n)


def evaluate_samplers(
    labels: dict[str, np.ndarray], scores: dict[str, np.ndarray], ns: list[int], tau: float = 0.1
) -> SamplerReport:
    """Focus and context of each sampler for each N over videos that contain anomalies."""
    names = [v for v in sorted(labels) if labels[v].any()]
    if not names:
        raise DataError("no video in the ground truth contains an anomaly; nothing to focus on")
    report = SamplerReport(
        anomaly_share=float(np.mean(np.concatenate([labels[v] for v in names])))
    )
    for sampler in SAMPLER_NAMES:
        fn = get_sampler(sampler, tau=tau)
        for n in ns:
            focus, ctx = [], []
            for v in names:
                idx = fn(scores[v], n)
                focus.append(float(labels[v][idx].mean()))
                ctx.append(context_coverage(idx, len(scores[v]), n))
            report.rows.append(SamplerRow(sampler, n, float(np.mean(focus)), float(np.mean(ctx)), len(names)))
    return report


def evaluate_sampler_files(gt_path: str | Path, scores_dir: str | Path, ns: list[int], tau: float = 0.1) -> SamplerReport:
    """Read ``gt.json`` and ``<video>.csv`` score files and evaluate the samplers."""
    if not ns or any(n <= 0 for n in ns):
        raise DataError(f"--n needs positive frame counts, got {ns}")
    truth = load_ground_truth(gt_path)
    folder = Path(scores_dir)
    if not folder.is_dir():
        raise DataError(f"scores folder not found: {folder}")
    labels, scores = {}, {}
    for name, t in truth.items():
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise DataError(f"no scores for {name}: {path} is missing")
        s = read_scores(path)
        if len(s) != t.n_frames:
            raise DataError(f"{name}: {len(s)} scores for {t.n_frames} frames; write one row per source frame")
        labels[name] = np.asarray(t.labels, dtype=bool)
        scores[name] = s
    return evaluate_samplers(labels, scores, ns, tau=tau)


def format_sampler_report(report: SamplerReport) -> str:
    """Human-readable table."""
    lines = [f"{'sampler':<8} {'N':>4} {'in anomaly':>11} {'context':>8}"]
    for r in report.rows:
        lines.append(f"{r.sampler:<8} {r.n:>4} {r.in_anomaly:>11.3f} {r.context:>8.3f}")
    lines.append(f"(over {report.rows[0].videos if report.rows else 0} videos with anomalies; "
                 f"{report.anomaly_share:.1%} of their frames are anomalous)")
    return "\n".join(lines)
