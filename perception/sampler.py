"""Frame samplers: which N frames of a span to show a vision-language model.

:class:`AnomalyFocusedSampler` is Holmes-VAU's anomaly-focused temporal sampler (ATS): the
per-frame anomaly scores plus ``tau`` are treated as a density, its cumulative sum as a CDF,
and N points placed evenly on the cumulative axis are mapped back to frame indices by
interpolation. High-scoring stretches get more frames; low-scoring ones keep some (``tau``),
so the model still sees context. Unlike the reference implementation it always returns
integer indices (also when it falls back to uniform), is deterministic, handles N >= the
number of frames and all-zero scores, and can drop duplicate indices.

``uniform`` and ``topk`` are the baselines the paper compares against.

:func:`sample_video_frames` picks a video file's frames for a VLM the same way wherever it is
needed (``vigil eval predict`` asks a served model, ``vigil train vlm`` tunes one), so a tuned
model sees at inference the kind of frames it was trained on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from vigil.core.errors import VideoError


def uniform_sample(num_frames: int, n: int) -> np.ndarray:
    """``n`` frame indices spread evenly over ``num_frames`` (centres of equal bins)."""
    if num_frames <= 0 or n <= 0:
        return np.zeros(0, dtype=np.int64)
    points = (np.arange(n) + 0.5) * num_frames / n
    return np.clip(np.floor(points).astype(np.int64), 0, num_frames - 1)


def topk_sample(scores: Sequence[float], n: int) -> np.ndarray:
    """The ``n`` highest-scoring frames, in time order (ties broken by position)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0 or n <= 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(s.size), -s))  # stable: earlier frame first on ties
    return np.sort(order[: min(n, s.size)]).astype(np.int64)


class AnomalyFocusedSampler:
    """Density-aware sampling (ATS). See the module docstring.

    Args:
        tau: added to every score so quiet stretches keep some frames (0.1 as in Holmes-VAU).
        dedupe: drop repeated indices (the result may then hold fewer than N frames).
    """

    def __init__(self, tau: float = 0.1, dedupe: bool = False) -> None:
        if not math.isfinite(tau) or tau < 0:
            raise ValueError(f"tau must be a finite number >= 0, got {tau}")
        self.tau = float(tau)
        self.dedupe = dedupe

    def sample(self, scores: Sequence[float], n: int) -> np.ndarray:
        """``n`` integer frame indices in time order."""
        s = np.asarray(scores, dtype=np.float64)
        num = s.size
        if num == 0 or n <= 0:
            return np.zeros(0, dtype=np.int64)
        s = np.where(np.isfinite(s), np.clip(s, 0.0, None), 0.0)
        density = s + self.tau
        if density.sum() <= 0:  # all-zero scores and tau == 0: nothing to prefer
            idx = uniform_sample(num, n)
        else:
            # frame i owns the cumulative interval [cdf[i], cdf[i + 1])
            cdf = np.concatenate([[0.0], np.cumsum(density)])
            cdf /= cdf[-1]
            targets = (np.arange(n) + 0.5) / n
            # the epsilon keeps float rounding from moving a point to the previous frame
            idx = np.searchsorted(cdf, targets + 1e-9, side="right") - 1
            idx = np.clip(idx, 0, num - 1).astype(np.int64)
        if self.dedupe:
            idx = np.unique(idx)
        return idx


SAMPLERS: dict[str, Callable[[Sequence[float], int], np.ndarray]] = {
    "ats": lambda scores, n: AnomalyFocusedSampler().sample(scores, n),
    "uniform": lambda scores, n: uniform_sample(len(scores), n),
    "topk": topk_sample,
}


def get_sampler(name: str, tau: float = 0.1, dedupe: bool = False) -> Callable[[Sequence[float], int], np.ndarray]:
    """A sampler function ``(scores, n) -> indices`` by name: ``ats``, ``uniform`` or ``topk``."""
    if name == "ats":
        return AnomalyFocusedSampler(tau=tau, dedupe=dedupe).sample
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def change_scores(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Per frame, how much the picture changed since the previous one (0..1).

    ATS needs a per-frame score; for a video no camera has scored, this is it: the mean absolute
    grey-level difference, which peaks when something moves or the scene cuts.
    """
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames]
    diffs = np.array([0.0] + [float(np.mean(np.abs(b - a))) for a, b in zip(grey[:-1], grey[1:])])
    if diffs.size > 1:
        diffs[0] = diffs[1]
    top = float(diffs.max()) if diffs.size else 0.0
    return diffs / top if top > 0 else np.ones_like(diffs)


def sample_video_frames(path: str | Path, n: int, sampler: str = "ats", *,
                        scores: tuple[np.ndarray, np.ndarray] | None = None,
                        width: int = 448, max_frames: int = 256) -> list[np.ndarray]:
    """``n`` RGB frames of a video file, in time order, picked by ``sampler``.

    The file is decoded at up to 4 frames per second (fewer for long files, at most
    ``max_frames`` in all) at ``width`` pixels; ATS then weighs the decoded frames by
    ``scores`` (``(times_s, values)``, e.g. a ``vigil score`` CSV, interpolated at each frame's
    time) or, without them, by :func:`change_scores`. Short files give all their frames.

    Raises:
        VideoError: the file cannot be read or has no frames.
    """
    from perception.source.video import open_video

    with open_video(path, fps=1.0, width=16) as probe:
        duration = probe.info.duration_s or 0.0
    fps = 4.0 if duration <= 0 else float(np.clip(max_frames / duration, 0.25, 4.0))
    with open_video(path, fps=fps, width=width) as video:
        decoded = list(video.frames())
    if not decoded:
        raise VideoError(f"{path}: no frames decoded")
    frames = [f.image for f in decoded]
    if len(frames) <= n:
        return frames
    if sampler == "ats":
        if scores is not None and len(scores[0]):
            weights = np.interp([f.t for f in decoded], scores[0], scores[1])
        else:
            weights = change_scores(frames)
    else:
        weights = np.ones(len(frames))
    idx = get_sampler(sampler, dedupe=True)(weights, n)
    return [frames[i] for i in sorted(set(int(i) for i in idx))]
