"""Frame samplers: which N frames of a span to show a vision-language model.

:class:`AnomalyFocusedSampler` is Holmes-VAU's anomaly-focused temporal sampler (ATS): the
per-frame anomaly scores plus ``tau`` are treated as a density, its cumulative sum as a CDF,
and N points placed evenly on the cumulative axis are mapped back to frame indices by
interpolation. High-scoring stretches get more frames; low-scoring ones keep some (``tau``),
so the model still sees context. Unlike the reference implementation it always returns
integer indices (also when it falls back to uniform), is deterministic, handles N >= the
number of frames and all-zero scores, and can drop duplicate indices.

``uniform`` and ``topk`` are the baselines the paper compares against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


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
