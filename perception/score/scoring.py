"""Normality scoring: how far a window is from a camera's normal footage, calibrated to [0, 1].

A :class:`NormalityModel` is fitted on the embeddings of a camera's normal windows and scores
new windows at two levels:

- **per cell**: every active cell of the window (something is there) is compared with the
  active cells of all normal windows, its grid position appended to its features. Pooling
  cells makes the bank large enough to learn from minutes of footage, while the position
  term keeps it local: a behaviour is normal here if it was seen here or nearby. ``knn``
  averages the distances to the ``k`` nearest normal cells; ``gaussian`` uses a diagonal
  Mahalanobis distance to the cell's own normal statistics, shrunk toward all cells', plus a
  term for how rarely the cell was active at all.
- **per window**: the clip vector against the normal clip vectors, the same way.

Features are scaled by a typical *active* value (most cells are empty most of the time, so a
plain standard deviation would blow rare features up). Distances are normalised on held-out
normal windows (other videos of the same camera): each cell by its neighbourhood's robust
99th percentile, so a busy road and a quiet corner are on one scale, and each level by its
own. The window's raw score is the larger of the two levels; its location is the most unusual
cell.

:class:`Calibration` then maps raw scores to [0, 1]: the median held-out normal window maps
to 0.05 and the (estimated) 99.9th percentile to 0.5. One threshold therefore means the same
on every camera: 0.5 is "more unusual than 999 in 1000 of this camera's normal windows".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.neighbors import KDTree

ScorerKind = Literal["knn", "gaussian"]
SCORERS: tuple[str, ...] = ("knn", "gaussian")
MAX_BANK = 20000  # pooled cell vectors kept (evenly subsampled beyond this)


@dataclass
class Calibration:
    """Monotone map from raw scores to [0, 1] (a logistic curve in log-score).

    ``median`` maps to 0.05 and ``high`` (the estimated 99.9th percentile of normal) to 0.5.
    """

    median: float
    high: float

    @classmethod
    def fit(cls, raw: np.ndarray) -> Calibration:
        """Fit from raw scores of held-out normal windows.

        The 99.9th percentile is estimated from the median and the 90th percentile of the log
        scores (as if they were normal) rather than read off the sample: with a few hundred
        windows the empirical tail is one or two odd windows.
        """
        raw = np.asarray(raw, dtype=np.float64)
        if raw.size == 0:
            raise ValueError("calibration needs at least one held-out normal window")
        logs = np.log(np.maximum(raw, 1e-6))
        med = float(np.median(logs))
        sigma = max((float(np.quantile(logs, 0.9)) - med) / 1.2816, 0.05)
        return cls(median=math.exp(med), high=math.exp(med + 3.0902 * sigma))

    def __call__(self, raw: np.ndarray | float) -> np.ndarray:
        r = np.maximum(np.asarray(raw, dtype=np.float64), 1e-9)
        width = (math.log(self.high) - math.log(self.median)) / math.log(19.0)
        z = (np.log(r) - math.log(self.high)) / max(width, 1e-6)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass
class WindowScore:
    """Scores of one window."""

    raw: float              # max(cell level, window level), each in units of its held-out high quantile
    cell: tuple[int, int]   # the most unusual cell (row, col)
    cells: np.ndarray       # (R, C) cell-level scores in the same units (0 where inactive)
    window_level: float     # the window-level part of ``raw``


class NormalityModel:
    """Pooled, position-aware normal banks (see the module docstring).

    Args:
        cells: ``(N, R, C, F)`` cell vectors of normal windows.
        vectors: ``(N, D)`` clip vectors of the same windows.
        kind: ``knn`` or ``gaussian``.
        k: neighbours averaged by ``knn``.
        position_weight: distance, in scaled feature units, of one cell step.
        exceedance: also test each feature one-sidedly against its local normal range (for
            encoders whose features all mean "more is stranger", like the motion encoder).
        exceed_features: indices of the features so tested (default: all).
    """

    def __init__(
        self,
        cells: np.ndarray,
        vectors: np.ndarray,
        kind: ScorerKind = "knn",
        k: int = 3,
        position_weight: float = 1.0,
        scales: dict[str, np.ndarray] | None = None,
        exceedance: bool = False,
        exceed_features: list[int] | None = None,
    ) -> None:
        if kind not in SCORERS:
            raise ValueError(f"unknown scorer {kind!r}; choose one of: {', '.join(SCORERS)}")
        cells = np.asarray(cells, dtype=np.float32)
        vectors = np.asarray(vectors, dtype=np.float32)
        if cells.ndim != 4 or cells.shape[0] == 0 or vectors.shape[0] != cells.shape[0]:
            raise ValueError(f"need (N, R, C, F) cells and (N, D) vectors with N > 0, got {cells.shape}, {vectors.shape}")
        self.kind: ScorerKind = kind
        self.k = max(1, int(k))
        self.position_weight = float(position_weight)
        n, r, c, f = cells.shape
        self.grid = (r, c)
        scales = scales or {}
        self.cell_feature_scale = scales.get("cell_feature_scale", _active_scale(cells.reshape(-1, f)))
        self.vector_scale = scales.get("vector_scale", _active_scale(vectors))
        self.level_scale = scales.get("level_scale", np.ones(3, np.float32))
        self.exceedance = bool(exceedance)
        self.exceed_features = sorted({int(i) for i in exceed_features}) if exceed_features is not None else list(range(f))
        self._exceed_mask = np.zeros(f, np.float32)
        self._exceed_mask[self.exceed_features] = 1.0
        self.local_high = _local_high(cells) if self.exceedance else None
        self.feature_exceed_scale = scales.get("feature_exceed_scale", np.ones(f, np.float32))
        self.cell_scale = scales.get("cell_scale", np.ones((r, c), np.float32))
        cal = scales.get("calibration")
        self.calibration = Calibration(float(cal[0]), float(cal[1])) if cal is not None else None
        self._cells_raw = cells
        self._vectors_raw = vectors
        # pooled bank of active cells with their positions
        act = _active(cells)
        idx = np.argwhere(act)  # (M, 3): window, row, col
        if idx.shape[0] == 0:
            idx = np.argwhere(np.ones_like(act))[:1]
        if idx.shape[0] > MAX_BANK:
            idx = idx[np.linspace(0, idx.shape[0] - 1, MAX_BANK).astype(int)]
        feats = cells[idx[:, 0], idx[:, 1], idx[:, 2]] / self.cell_feature_scale
        self.bank = np.concatenate([feats, idx[:, 1:].astype(np.float32) * self.position_weight], axis=1)
        self._bank_tree = KDTree(self.bank) if kind == "knn" else None
        self.win_bank = vectors / self.vector_scale
        self._win_tree = KDTree(self.win_bank) if kind == "knn" else None
        # gaussian: each cell's active statistics shrunk toward all cells'
        glob_mean = feats.mean(axis=0)
        glob_var = feats.var(axis=0) + 1e-3
        self.cell_mean = np.tile(glob_mean, (r, c, 1)).astype(np.float32)
        self.cell_var = np.tile(glob_var, (r, c, 1)).astype(np.float32)
        counts = np.zeros((r, c), np.float32)
        for (rr, cc) in {(int(a), int(b)) for a, b in idx[:, 1:]}:
            sel = (idx[:, 1] == rr) & (idx[:, 2] == cc)
            m = int(sel.sum())
            w = m / (m + 20.0)
            counts[rr, cc] = m
            self.cell_mean[rr, cc] = w * feats[sel].mean(axis=0) + (1 - w) * glob_mean
            self.cell_var[rr, cc] = w * (feats[sel].var(axis=0) + 1e-3) + (1 - w) * glob_var
        self.cell_counts = counts
        self.win_mean = self.win_bank.mean(axis=0)
        self.win_var = self.win_bank.var(axis=0) + 1e-3

    # ------------------------------------------------------------------ scoring
    def _knn(self, tree: KDTree, q: np.ndarray) -> np.ndarray:
        k = min(self.k, tree.data.shape[0])
        dist, _ = tree.query(q, k=k)
        return dist.mean(axis=1)

    def level_distances(self, cells: np.ndarray, vector: np.ndarray) -> tuple[np.ndarray, float]:
        """Un-normalised ``(R, C)`` cell distances (0 where inactive) and the window distance."""
        r, c = self.grid
        cells = np.asarray(cells, np.float32)
        act = _active(cells[None])[0]
        out = np.zeros((r, c), np.float32)
        pos = np.argwhere(act)
        if pos.shape[0]:
            feats = cells[pos[:, 0], pos[:, 1]] / self.cell_feature_scale
            if self.kind == "gaussian":
                mu = self.cell_mean[pos[:, 0], pos[:, 1]]
                var = self.cell_var[pos[:, 0], pos[:, 1]]
                # activity where normal footage rarely had any is itself unusual
                seen = self.cell_counts[pos[:, 0], pos[:, 1]]
                rarity = 3.0 * self.position_weight * 20.0 / (seen + 20.0)
                d = np.sqrt((((feats - mu) ** 2) / var).mean(axis=1) + rarity**2)
            else:
                q = np.concatenate([feats, pos.astype(np.float32) * self.position_weight], axis=1)
                d = self._knn(self._bank_tree, q)
            out[pos[:, 0], pos[:, 1]] = d
        v = (np.asarray(vector, np.float32) / self.vector_scale)[None]
        if self.kind == "gaussian":
            wd = float(np.sqrt((((v[0] - self.win_mean) ** 2) / self.win_var).mean()))
        else:
            wd = float(self._knn(self._win_tree, v)[0])
        return out, wd

    def exceedances(self, cells: np.ndarray) -> np.ndarray:
        """``(R, C, F)`` one-sided excess of each feature over its local normal high (0 if none)."""
        if self.local_high is None:
            r, c = self.grid
            return np.zeros((r, c, self.cell_feature_scale.size), np.float32)
        return np.maximum(np.asarray(cells, np.float32) / self.local_high - 1.0, 0.0) * self._exceed_mask

    def score(self, cells: np.ndarray, vector: np.ndarray) -> WindowScore:
        """Score one window's embedding."""
        dist, wd = self.level_distances(cells, vector)
        norm = dist / self.cell_scale / self.level_scale[0]
        wnorm = wd / self.level_scale[1]
        if self.exceedance:
            exc = (self.exceedances(cells) / self.feature_exceed_scale).max(axis=-1) / self.level_scale[2]
            norm = np.maximum(norm, exc)
        flat = int(np.argmax(norm))
        rr, cc = divmod(flat, self.grid[1])
        return WindowScore(raw=float(max(norm[rr, cc], wnorm)), cell=(rr, cc), cells=norm, window_level=float(wnorm))

    def held_out_distances(self, cells: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Held-out normal windows: ``(H, R, C)`` cell distances, ``(H,)`` window distances and
        ``(H, F)`` largest exceedance of each feature."""
        held = [self.level_distances(c, v) for c, v in zip(cells, vectors)]
        exc = np.stack([self.exceedances(c).reshape(-1, self.cell_feature_scale.size).max(axis=0) for c in cells])
        return np.stack([d for d, _ in held]), np.array([w for _, w in held]), exc

    def calibrate(self, dist: np.ndarray, win: np.ndarray, exc: np.ndarray | None = None) -> np.ndarray:
        """Set the scales and the calibration from held-out values (:meth:`held_out_distances`);
        returns the held-out windows' raw scores (for a calibration of fused levels).

        Each cell's distances are divided by a robust high quantile of the held-out distances
        in its 3x3 neighbourhood (so a busy road and a quiet corner are on one scale), each
        feature's exceedance by its own held-out spread, each level by its own high quantile;
        then :class:`Calibration` maps the raw score to [0, 1].
        """
        r, c = self.grid
        scale = np.zeros((r, c), np.float32)
        for i in range(r):
            for j in range(c):
                block = dist[:, max(0, i - 1) : i + 2, max(0, j - 1) : j + 2].ravel()
                block = block[block > 0]
                scale[i, j] = _robust_high(block) if block.size >= 10 else 0.0
        active = scale[scale > 0]
        floor = 0.5 * float(np.median(active)) if active.size else 1.0
        self.cell_scale = np.maximum(scale, max(floor, 1e-3)).astype(np.float32)
        cell_max = (dist / self.cell_scale).reshape(len(dist), -1).max(axis=1)
        levels = [_robust_high(cell_max), _robust_high(win), 1.0]
        raw = np.maximum(cell_max / levels[0], win / levels[1])
        if self.exceedance and exc is not None and len(exc):
            # a feature that normal footage never pushes past its local high keeps a floor,
            # so the first real excess counts fully
            self.feature_exceed_scale = np.maximum(1.5 * np.quantile(exc, 0.95, axis=0), 0.25).astype(np.float32)
            exc_max = (exc / self.feature_exceed_scale).max(axis=1)
            levels[2] = max(_robust_high(np.maximum(exc_max, 0.05)), 1.0)
            raw = np.maximum(raw, exc_max / levels[2])
        self.level_scale = np.array(levels, np.float32)
        self.calibration = Calibration.fit(raw)
        return raw

    def calibrate_from(self, cells: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """:meth:`calibrate` on held-out normal windows scored by this model."""
        return self.calibrate(*self.held_out_distances(cells, vectors))

    def scales(self) -> dict[str, np.ndarray]:
        """Everything :meth:`calibrate_from` learned, to carry over to a model on more data."""
        cal = self.calibration
        return {
            "cell_feature_scale": self.cell_feature_scale,
            "vector_scale": self.vector_scale,
            "level_scale": self.level_scale,
            "cell_scale": self.cell_scale,
            "feature_exceed_scale": self.feature_exceed_scale,
            "calibration": np.array([cal.median, cal.high] if cal else [1.0, 2.0], np.float32),
        }

    # ------------------------------------------------------------------ persistence
    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to save."""
        return {"cells": self._cells_raw, "vectors": self._vectors_raw, **self.scales()}

    def settings(self) -> dict[str, Any]:
        """JSON-able settings."""
        return {"kind": self.kind, "k": self.k, "position_weight": self.position_weight, "exceedance": self.exceedance,
                "exceed_features": self.exceed_features}

    @classmethod
    def restore(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> NormalityModel:
        """Rebuild from :meth:`settings` and :meth:`arrays`."""
        keys = ("cell_feature_scale", "vector_scale", "level_scale", "cell_scale", "calibration", "feature_exceed_scale")
        return cls(arrays["cells"], arrays["vectors"], kind=settings["kind"], k=settings["k"],
                   position_weight=settings["position_weight"], scales={key: arrays[key] for key in keys if key in arrays},
                   exceedance=bool(settings.get("exceedance", False)), exceed_features=settings.get("exceed_features"))


def _active(cells: np.ndarray) -> np.ndarray:
    """``(N, R, C)`` mask of cells where anything is present."""
    return np.abs(cells).max(axis=-1) > 1e-6


def _active_scale(flat: np.ndarray, quantile: float = 0.75) -> np.ndarray:
    """Per feature: the ``quantile`` of its non-zero magnitudes (1 where it is never active)."""
    flat = np.asarray(flat, np.float32)
    scale = np.ones(flat.shape[1], np.float32)
    for j in range(flat.shape[1]):
        active = np.abs(flat[:, j])
        active = active[active > 1e-6]
        if active.size:
            scale[j] = max(float(np.quantile(active, quantile)), 1e-3)
    return scale


def _robust_high(values: np.ndarray) -> float:
    """A robust 99th-percentile estimate: median and 90th percentile of the logs, as if normal."""
    logs = np.log(np.maximum(np.asarray(values, np.float64), 1e-6))
    med = float(np.median(logs))
    sigma = max((float(np.quantile(logs, 0.9)) - med) / 1.2816, 0.05)
    return float(math.exp(med + 2.3263 * sigma))


def _local_high(cells: np.ndarray, radius: int = 1, quantile: float = 0.99) -> np.ndarray:
    """``(R, C, F)``: each feature's high quantile over normal windows in each cell's neighbourhood.

    Floored per feature at half its median active value, so a cell where a feature never
    appeared does not turn the faintest trace into an alarm.
    """
    n, r, c, f = cells.shape
    flat = cells.reshape(-1, f)
    floor = np.array([0.5 * float(np.median(col[col > 1e-6])) if np.any(col > 1e-6) else 1.0 for col in flat.T], np.float32)
    out = np.zeros((r, c, f), np.float32)
    for i in range(r):
        for j in range(c):
            block = cells[:, max(0, i - radius) : i + radius + 1, max(0, j - radius) : j + radius + 1].reshape(-1, f)
            out[i, j] = np.quantile(block, quantile, axis=0)
    return np.maximum(out, np.maximum(floor, 1e-3)).astype(np.float32)


def fuse_levels(cell_raw: np.ndarray | float, obj_level: np.ndarray | float) -> np.ndarray:
    """The fused raw score of the cell and object levels (before its own calibration): the larger.

    Both are in units of their own held-out normal windows, so the larger says which path saw
    something more unusual; the fused score then gets its own calibration on those windows.
    """
    return np.maximum(np.asarray(cell_raw, float), np.asarray(obj_level, float))
