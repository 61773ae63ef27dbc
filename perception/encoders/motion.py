"""The ``motion`` encoder: the embedded default, no weights to download.

Per frame, at a reduced working resolution:

- dense optical flow (OpenCV DIS, ultrafast preset) between consecutive sampled frames;
- foreground against a background learned from the camera's normal footage
  (:class:`perception.source.background.BackgroundModel`: light followed block by block, a per-pixel
  threshold from the normal footage's own noise);
- foreground blobs (connected components) with their feet point (bottom centre), shape and
  mean optical flow (blobs are not tracked here: the one tracker is :mod:`perception.track.tracking`);
- where a blob moved further between two sampled frames than optical flow can follow (more
  than half its own size: its old and new places barely overlap, as for a runner a few pixels
  wide, and the flow of its flat inside reads almost nothing), its speed is also read by
  matching its pixels in the previous frame (:func:`match_shift`), and the larger reading
  counts; velocity changes (jitter) stay the flow's.

Speeds and sizes are expressed in *body heights* of a person standing at the blob's feet,
using a perspective model (expected person height per image row) fitted on the normal
footage. A walker is then about 0.7 heights per second near the camera and far from it, a
runner two or more, and a car covers several person-areas wherever it is, which lets the
scorer pool what it learned across the image.

Per window and grid cell, the features in :data:`FEATURES` summarise what happened there: how
much foreground, how much never moved (a person lying still, a bag left behind), how often
someone stood there, how fast and how erratically they moved, the shapes and sizes of the blobs
standing there and of the unmoving ones, and a dwell memory that builds up over several
seconds of slow presence (loitering) and fades quickly once the place is empty.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from perception.encoders import Embedding, Encoder, register_encoder
from perception.source.background import BackgroundModel, BackgroundSettings
from perception.source.windows import Window

FEATURES: tuple[str, ...] = (
    "fg_mean",         # mean foreground fraction of the cell
    "persist",         # fraction of the cell that is foreground in every frame of the window
    "feet_occ",        # fraction of frames with a blob's feet in the cell
    "speed",           # median speed (body heights / s) of person-sized blobs standing in the cell
    "speed_high",      # 75th percentile of the same
    "jitter",          # median change of their velocity between frames (body heights / s)
    "aspect",          # widest blob standing in the cell (width / height)
    "size",            # largest blob standing in the cell (in person areas)
    "persist_aspect",  # width / height of the unmoving blobs
    "persist_size",    # their size (in person areas)
    "dwell",           # slow presence built up over dwell_s (0..1)
    "agitation",       # mean optical flow magnitude inside blobs (body heights / s): limbs too
    "large_speed",     # median speed of blobs larger than a person or two (vehicles, groups)
    "footfall_rarity", # how rarely normal footage had people standing where these people stand
    "large_rarity",    # how rarely normal footage had large blobs (vehicles) where these are
)
LARGE_BLOB = 2.5  # default of MotionConfig.group_size (detection.group_size)
GLOBALS: tuple[str, ...] = ("fg_total", "persist_total", "blobs", "speed_top", "agitation_top")


@dataclass(frozen=True)
class MotionConfig:
    """Settings of the motion encoder.

    Attributes:
        work_width: frames are analysed at this width (height keeps the aspect ratio).
        grid_rows, grid_cols: the cell grid.
        fg_sigma: robust spreads of the normal pixel noise above which a pixel is foreground.
        fg_floor: the least grey-level difference that counts as foreground.
        min_blob_px: smaller connected components are noise.
        min_blob_height: blobs shorter than this (pixels) give no shape.
        slow_speed: body heights per second below which presence counts as dwelling.
        dwell_s: time constant over which dwelling builds up.
        group_size: person areas above which a blob is a vehicle or a group, not one person.
        match_speeds: measure the speed of blobs that moved more than half their size between
            frames by matching their pixels (profiles fitted before it read flow alone).
        max_speed: body heights per second: the farthest a blob is looked for in the previous
            frame (the fastest motion a match can measure).
        fps: sampling rate of the frames the encoder receives.
    """

    work_width: int = 160
    grid_rows: int = 8
    grid_cols: int = 10
    fg_sigma: float = 6.0
    fg_floor: float = 10.0
    min_blob_px: int = 6
    min_blob_height: int = 6
    slow_speed: float = 0.35
    dwell_s: float = 8.0
    group_size: float = LARGE_BLOB
    match_speeds: bool = True
    max_speed: float = 6.0
    fps: float = 8.0

    def __post_init__(self) -> None:
        if not 32 <= self.work_width <= 1920:
            raise ValueError(f"work_width must be in [32, 1920], got {self.work_width}")
        if not (1 <= self.grid_rows <= 64 and 1 <= self.grid_cols <= 64):
            raise ValueError(f"grid must be between 1x1 and 64x64, got {self.grid_rows}x{self.grid_cols}")
        if not (self.fg_sigma > 0 and 1.0 <= self.fg_floor <= 255.0):
            raise ValueError(f"fg_sigma must be > 0 and fg_floor in [1, 255], got {self.fg_sigma}, {self.fg_floor}")
        if self.fps <= 0 or self.dwell_s <= 0 or self.group_size <= 0 or self.max_speed <= 0:
            raise ValueError("fps, dwell_s, group_size and max_speed must be > 0")


@dataclass
class _FrameStats:
    """Per-frame work, cached because consecutive windows overlap."""

    fg: np.ndarray         # (h, w) bool foreground at working resolution
    fg_frac: np.ndarray    # (R, C)
    feet: np.ndarray       # (R, C) bool: some blob's feet are in the cell
    speed: np.ndarray      # (R, C) fastest blob, body heights / s
    vel: np.ndarray        # (R, C, 2) area-weighted blob velocity, body heights / s
    agitation: np.ndarray  # (R, C) largest mean |flow| inside a blob, body heights / s
    aspect: np.ndarray     # (R, C) widest blob (width / height)
    size: np.ndarray       # (R, C) largest blob, person areas
    large: np.ndarray      # (R, C) fastest blob larger than group_size person areas, heights / s
    rarity: np.ndarray     # (R, C) how rarely people stood where this frame's people stand (0..1)
    large_rarity: np.ndarray  # (R, C) the same for large blobs (vehicles): 1 where none went
    n_blobs: int


@register_encoder("motion")
class MotionEncoder(Encoder):
    """Optical flow, foreground and blob statistics per grid cell (see the module docstring).

    Args:
        background: ``(h, w, 3)`` float32 background at working resolution, from :meth:`fit`.
        threshold: ``(h, w)`` float32 per-pixel foreground threshold, from :meth:`fit`.
        perspective: ``(slope, intercept)`` of the expected person height (pixels) per image
            row at working resolution, from :meth:`fit`.
        footfall: ``(2, h, w)`` rarity (0 common .. 1 never seen) of people's feet and of large
            blobs' ground contact at each pixel of the normal footage, from :meth:`fit`.
        **config: :class:`MotionConfig` fields.
    """

    feature_names = FEATURES
    one_sided = True  # every feature: more of it is stranger
    place_features = ("footfall_rarity", "large_rarity")

    def __init__(
        self,
        background: np.ndarray | None = None,
        perspective: Any = None,
        footfall: np.ndarray | None = None,
        threshold: np.ndarray | None = None,
        **config: Any,
    ) -> None:
        config.pop("fg_threshold", None)  # a setting of earlier versions, now learned per pixel
        self.config = MotionConfig(**config)
        self._settings = BackgroundSettings(sigma=self.config.fg_sigma, floor=self.config.fg_floor,
                                            ceiling=max(self.config.fg_floor, 60.0))
        self.bgmodel = None if background is None else BackgroundModel(background, threshold, self._settings)
        self.perspective = None if perspective is None else tuple(float(v) for v in np.ravel(perspective))
        self.footfall = None if footfall is None else np.asarray(footfall, dtype=np.float32)
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._cache: dict[int, _FrameStats] = {}
        # the previous sampled frame: index, grey, colour and foreground at working resolution
        self._prev: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._dwell: np.ndarray | None = None
        self._last_window_end: float | None = None

    @property
    def background(self) -> np.ndarray | None:
        """``(h, w, 3)`` float32 background at the working resolution (``None`` before fitting)."""
        return None if self.bgmodel is None else self.bgmodel.background

    # ------------------------------------------------------------------ interface
    @property
    def grid(self) -> tuple[int, int]:
        return self.config.grid_rows, self.config.grid_cols

    @property
    def version(self) -> str:
        c = self.config
        return f"motion-{7 if c.match_speeds else 6}/{c.work_width}/{c.grid_rows}x{c.grid_cols}/{c.fg_sigma:g}:{c.fg_floor:g}"

    def reset(self) -> None:
        self._cache.clear()
        self._prev = None
        self._dwell = None
        self._last_window_end = None

    def fit(self, frames_per_video: Iterable[Iterable[np.ndarray]]) -> None:
        """Learn the background (with its noise) and the perspective from normal frames."""
        samples = [self._work(image) for frames in frames_per_video for image in frames]
        if not samples:
            raise ValueError("no frames to learn a background from")
        self.bgmodel = BackgroundModel.fit(samples, self._settings)
        feet_y, heights, blobs = [], [], []
        for work in samples:
            fg = self._foreground(work)
            n, _labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
            for k in range(1, n):
                x, y, bw, bh, a = (int(v) for v in stats[k])
                if a < self.config.min_blob_px:
                    continue
                blobs.append((x + bw // 2, y + bh - 1, a))
                if bh >= self.config.min_blob_height and bh >= bw:
                    feet_y.append(y + bh)
                    heights.append(bh)
        self.perspective = _fit_perspective(np.array(feet_y, float), np.array(heights, float), self.background.shape[0])
        # where people's feet and where vehicles' wheels touch the ground, separately
        people, large = [], []
        for x, y, a in blobs:
            person = float(self.person_height(y + 1))
            (large if a > self.config.group_size * 0.25 * person * person else people).append((x, y))
        shape = self.background.shape[:2]
        maps = [_footfall(pts, shape, self.person_height) for pts in (people, large)]
        self.footfall = np.stack([m if m is not None else np.ones(shape, np.float32) for m in maps])
        self.reset()

    def state(self) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {}
        if self.bgmodel is not None:
            arrays["background"] = self.bgmodel.background
            arrays["threshold"] = self.bgmodel.threshold
        if self.perspective is not None:
            arrays["perspective"] = np.array(self.perspective, np.float64)
        if self.footfall is not None:
            arrays["footfall"] = self.footfall
        return {"name": self.name, "config": asdict(self.config), "arrays": arrays}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MotionEncoder:
        arrays = state.get("arrays", {})
        # a profile fitted before speeds were matched learned its normal footage from flow alone
        config = {"match_speeds": False, **state.get("config", {})}
        return cls(
            background=arrays.get("background"),
            perspective=arrays.get("perspective"),
            footfall=arrays.get("footfall"),
            threshold=arrays.get("threshold"),
            **config,
        )

    # ------------------------------------------------------------------ per frame
    def _work(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        ww = self.config.work_width
        wh = max(self.config.grid_rows, int(round(ww * h / w)))
        if (w, h) == (ww, wh):
            return image
        return cv2.resize(image, (ww, wh), interpolation=cv2.INTER_AREA)

    def _cells(self, h: int, w: int) -> tuple[int, int, int, int]:
        r, c = self.grid
        return r, c, max(1, h // r), max(1, w // c)

    def _foreground(self, work: np.ndarray) -> np.ndarray:
        if self.bgmodel is None or self.bgmodel.shape != work.shape[:2]:
            # not fitted (or a different camera shape): the first frame stands in
            self.bgmodel = BackgroundModel(work.astype(np.float32), None, self._settings)
        return self.bgmodel.foreground(work)

    def person_height(self, feet_y: float | np.ndarray) -> float | np.ndarray:
        """Expected height (pixels, working resolution) of a person whose feet are at ``feet_y``."""
        floor = float(self.config.min_blob_height)
        if self.perspective is None:
            # no perspective learned (too little footage): one height everywhere, in the input's shape
            rows = self.background.shape[0] if self.background is not None else 120
            return np.maximum(floor, np.full(np.shape(feet_y), 0.25 * rows, dtype=float))
        slope, intercept = self.perspective
        return np.maximum(floor, slope * np.asarray(feet_y, float) + intercept)

    def _frame_stats(self, index: int, image: np.ndarray) -> _FrameStats:
        cfg = self.config
        work = self._work(image)
        gray = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        fg = self._foreground(work)
        R, C, ch, cw = self._cells(h, w)
        previous = self._prev if self._prev is not None and self._prev[0] < index else None
        if previous is not None:
            flow = self._flow.calc(previous[1], gray, None)
        else:
            flow = np.zeros((h, w, 2), np.float32)
        self._prev = (index, gray, work, fg)
        fg_frac = cv2.resize(fg[: R * ch, : C * cw].astype(np.float32), (C, R), interpolation=cv2.INTER_AREA)

        feet = np.zeros((R, C), bool)
        speed = np.zeros((R, C), np.float32)
        vel = np.zeros((R, C, 2), np.float32)
        weight = np.zeros((R, C), np.float32)
        agitation = np.zeros((R, C), np.float32)
        aspect = np.zeros((R, C), np.float32)
        size = np.zeros((R, C), np.float32)
        large = np.zeros((R, C), np.float32)
        rarity = np.zeros((R, C), np.float32)
        large_rarity = np.zeros((R, C), np.float32)
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
        keep = [k for k in range(1, n) if stats[k, 4] >= cfg.min_blob_px]
        n_blobs = len(keep)
        blobs = np.array([[centroids[k, 0], centroids[k, 1], stats[k, 4], stats[k, 1] + stats[k, 3]] for k in keep], float)
        persons = self.person_height(blobs[:, 3]) if n_blobs else np.zeros(0)
        if n_blobs:
            # per-blob flow sums over foreground pixels only (a few percent of the frame)
            on = np.flatnonzero(fg)
            lab = labels.ravel()[on]
            fxy = flow.reshape(-1, 2)[on]
            fx = np.bincount(lab, weights=fxy[:, 0], minlength=n)
            fy = np.bincount(lab, weights=fxy[:, 1], minlength=n)
            fm = np.bincount(lab, weights=np.hypot(fxy[:, 0], fxy[:, 1]), minlength=n)
            for j, k in enumerate(keep):
                x, y, bw, bh, a = (int(v) for v in stats[k])
                r = min(R - 1, (y + bh - 1) // ch)
                c = min(C - 1, (x + bw // 2) // cw)
                person = float(persons[j])
                feet[r, c] = True
                size[r, c] = max(size[r, c], a / (0.25 * person * person))  # a standing person ~ 1
                is_large = a > cfg.group_size * 0.25 * person * person
                if self.footfall is not None and self.footfall.shape[1:] == (h, w):
                    here = float(self.footfall[int(is_large), min(h - 1, y + bh - 1), min(w - 1, x + bw // 2)])
                    target = large_rarity if is_large else rarity
                    target[r, c] = max(target[r, c], here)
                if bh >= cfg.min_blob_height or bw >= cfg.min_blob_height:
                    aspect[r, c] = max(aspect[r, c], bw / bh)
                per_s = cfg.fps / person
                # velocity: the blob's mean optical flow (objects are followed by the one
                # tracker, perception.track.tracking; the cells only say what moved where)
                vx, vy = fx[k] / a * per_s, fy[k] / a * per_s
                moved = math.hypot(vx, vy)
                if cfg.match_speeds and previous is not None and bh >= cfg.min_blob_height and not is_large:
                    reach = max(3, int(math.ceil(cfg.max_speed * person / cfg.fps)))
                    shift = match_shift(previous[2], work, previous[3], labels[y:y + bh, x:x + bw] == k, (x, y, bw, bh), reach)
                    if shift is not None and abs(shift[0]) / bw + abs(shift[1]) / bh > 0.5:
                        # the flow's velocity stays for the jitter: a change of estimator is no change of pace
                        moved = max(moved, math.hypot(*shift) * per_s)
                if is_large:
                    # vehicles and groups: kept apart so a car on the road does not make
                    # a person running beside it look ordinary
                    large[r, c] = max(large[r, c], math.hypot(vx, vy))
                    continue
                if x == 0 or y == 0 or x + bw >= w or y + bh >= h:
                    # cut by the frame edge: part of something entering or leaving, whose size
                    # and person scale are not its own; its speed would be a guess
                    continue
                speed[r, c] = max(speed[r, c], moved)
                agitation[r, c] = max(agitation[r, c], fm[k] / a * per_s)
                vel[r, c] += (vx * a, vy * a)
                weight[r, c] += a
        vel /= np.maximum(weight, 1.0)[..., None]
        return _FrameStats(fg, fg_frac, feet, speed, vel, agitation, aspect, size, large, rarity, large_rarity, n_blobs)

    # ------------------------------------------------------------------ per window
    def embed(self, window: Window) -> Embedding:
        cfg = self.config
        stats: list[_FrameStats] = []
        for i in range(window.n_valid):
            idx = int(window.frame_indices[i])
            cached = self._cache.get(idx)
            if cached is None:
                cached = self._frame_stats(idx, window.frames[i])
                self._cache[idx] = cached
            stats.append(cached)
        first = int(window.frame_indices[0])
        for key in [k for k in self._cache if k < first]:
            del self._cache[key]
        R, C = self.grid
        T = len(stats)
        fg_frac = np.stack([s.fg_frac for s in stats])
        feet = np.stack([s.feet for s in stats])
        speed = np.stack([s.speed for s in stats])
        vel = np.stack([s.vel for s in stats])
        agitation = np.stack([s.agitation for s in stats])

        n_feet = feet.sum(axis=0)
        speed_med = _masked_quantile(speed, feet, 0.5)
        speed_high = _masked_quantile(speed, feet, 0.75)
        both = feet[1:] & feet[:-1]
        jitter = _masked_quantile(np.linalg.norm(vel[1:] - vel[:-1], axis=-1), both, 0.5)
        agit = _masked_quantile(agitation, feet, 0.5)

        # persistent foreground: present in every frame of the window, and its blob shapes
        persistent = np.logical_and.reduce([s.fg for s in stats])
        h, w = persistent.shape
        _R, _C, ch, cw = self._cells(h, w)
        persist = persistent[: R * ch, : C * cw].reshape(R, ch, C, cw).mean(axis=(1, 3))
        p_aspect = np.zeros((R, C), np.float32)
        p_size = np.zeros((R, C), np.float32)
        n, _labels, pstats, _ = cv2.connectedComponentsWithStats(persistent.astype(np.uint8), connectivity=8)
        for k in range(1, n):
            x, y, bw, bh, a = (int(v) for v in pstats[k])
            if a < cfg.min_blob_px:
                continue
            r = min(R - 1, (y + bh - 1) // ch)
            c = min(C - 1, (x + bw // 2) // cw)
            person = float(self.person_height(y + bh))
            p_size[r, c] = max(p_size[r, c], a / (0.25 * person * person))
            if bh >= cfg.min_blob_height or bw >= cfg.min_blob_height:
                p_aspect[r, c] = max(p_aspect[r, c], bw / bh)

        # dwell: slow presence in and around the cell, building up over dwell_s and fading
        # within a second or two once the place is empty, so a short pause leaves little behind
        slow = (feet & (speed < cfg.slow_speed)).mean(axis=0).astype(np.float32)
        slow = cv2.dilate(slow, np.ones((3, 3), np.uint8))
        if self._dwell is None:
            self._dwell = np.zeros_like(slow)
        dt = 0.0 if self._last_window_end is None else max(0.0, window.ts_end - self._last_window_end)
        rise = math.exp(-dt / cfg.dwell_s)
        fade = math.exp(-dt / 1.0)
        self._dwell = np.where(slow > 0, rise * self._dwell + (1.0 - rise) * slow, fade * self._dwell).astype(np.float32)
        self._last_window_end = window.ts_end
        dwell = np.where(n_feet > 0, self._dwell, 0.0)

        cells = np.stack(
            [
                fg_frac.mean(axis=0), persist, n_feet / T, speed_med, speed_high, jitter,
                np.stack([s.aspect for s in stats]).max(axis=0), np.stack([s.size for s in stats]).max(axis=0),
                p_aspect, p_size, dwell, agit,
                _masked_quantile(np.stack([s.large for s in stats]), np.stack([s.large > 0 for s in stats]), 0.5),
                _masked_quantile(np.stack([s.rarity for s in stats]), feet, 0.5),
                np.stack([s.large_rarity for s in stats]).max(axis=0),
            ],
            axis=-1,
        ).astype(np.float32)
        glob = np.array(
            [fg_frac.mean(), persist.mean(), np.mean([s.n_blobs for s in stats]), speed_high.max(), agit.max()],
            dtype=np.float32,
        )
        flat = cells.reshape(-1, cells.shape[-1])
        vector = np.concatenate([glob, flat.max(axis=0), flat.mean(axis=0)]).astype(np.float32)
        return Embedding(vector=vector, cells=cells)


def match_shift(prev: np.ndarray, cur: np.ndarray, prev_fg: np.ndarray, mask: np.ndarray,
                box: tuple[int, int, int, int], reach: int) -> tuple[float, float] | None:
    """How far a blob moved since the previous frame, in pixels, by matching its pixels there.

    The blob's colours under its own mask (``mask``: which pixels of its ``box`` = x, y, width,
    height are the blob) are looked for in ``prev`` up to ``reach`` pixels away (sum
    of squared differences, refined to a fraction of a pixel). The answer is ``None`` when it is
    not trustworthy: the best place lies on the edge of the search (the blob may be further or
    elsewhere), the place it came from was mostly background in the previous frame, or matching
    back from there does not return to the blob (within a pixel and a half).
    """
    x, y, w, h = box
    rows, cols = cur.shape[:2]
    weights = np.repeat(mask.astype(np.float32)[..., None], cur.shape[2], axis=2)
    hit = _find(prev, cur[y:y + h, x:x + w].astype(np.float32), weights, x, y, reach)
    if hit is None:
        return None
    bx, by = int(round(hit[0])), int(round(hit[1]))
    if bx < 0 or by < 0 or bx + w > cols or by + h > rows or prev_fg[by:by + h, bx:bx + w][mask].mean() < 0.5:
        return None
    back = _find(cur, prev[by:by + h, bx:bx + w].astype(np.float32), weights, bx, by, reach)
    if back is None or (back[0] - x) ** 2 + (back[1] - y) ** 2 > 2.25:
        return None
    return x - hit[0], y - hit[1]


def _find(image: np.ndarray, template: np.ndarray, weights: np.ndarray, x: int, y: int, reach: int) -> tuple[float, float] | None:
    """Where ``template`` (top-left at ``x, y``) fits best in ``image`` within ``reach`` pixels
    (sub-pixel), or ``None`` if the best fit lies on the edge of the search inside the image."""
    h, w = template.shape[:2]
    rows, cols = image.shape[:2]
    x0, y0, x1, y1 = max(0, x - reach), max(0, y - reach), min(cols, x + w + reach), min(rows, y + h + reach)
    search = image[y0:y1, x0:x1].astype(np.float32)
    if search.shape[0] < h + 2 or search.shape[1] < w + 2:
        return None
    cost = cv2.matchTemplate(search, template, cv2.TM_SQDIFF, mask=weights)
    _lo, _hi, (j, i), _ = cv2.minMaxLoc(cost)
    on_edge = not (0 < j < cost.shape[1] - 1 and 0 < i < cost.shape[0] - 1)
    if on_edge and x0 > 0 and y0 > 0 and x1 < cols and y1 < rows:
        return None
    return x0 + j + _vertex(cost[i], j), y0 + i + _vertex(cost[:, j], i)


def _vertex(costs: np.ndarray, k: int) -> float:
    """Sub-pixel offset of the minimum at ``costs[k]`` from its two neighbours (0 at an edge or a flat bottom)."""
    if not 0 < k < len(costs) - 1:
        return 0.0
    a, b, c = (float(v) for v in costs[k - 1:k + 2])
    d = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5)) if d > 0 else 0.0


def _masked_quantile(values: np.ndarray, mask: np.ndarray, q: float) -> np.ndarray:
    """Per cell, the ``q`` quantile (lower) over time of ``values`` where ``mask``; 0 where empty."""
    if values.shape[0] == 0:  # e.g. frame-to-frame changes of a one-frame window
        return np.zeros(values.shape[1:], np.float32)
    ordered = np.sort(np.where(mask, values, np.inf), axis=0)
    n = mask.sum(axis=0)
    idx = np.clip(np.floor(q * (n - 1)).astype(int), 0, values.shape[0] - 1)
    picked = np.take_along_axis(ordered, idx[None], axis=0)[0]
    return np.where(n > 0, picked, 0.0).astype(np.float32)


def _fit_perspective(feet_y: np.ndarray, heights: np.ndarray, rows: int) -> tuple[float, float] | None:
    """Expected person height as a line in the feet row, from upright blobs of normal footage.

    Per band of rows the 75th percentile of blob heights is taken (fragments and partly hidden
    people are shorter, never taller); a line through the bands is the model. ``None`` when
    there are too few blobs to say.
    """
    if feet_y.size < 20:
        return None
    bands = np.linspace(0, rows, 9)
    xs, ys = [], []
    for lo, hi in zip(bands[:-1], bands[1:]):
        sel = (feet_y >= lo) & (feet_y < hi)
        if sel.sum() >= 5:
            xs.append(float(np.median(feet_y[sel])))
            ys.append(float(np.quantile(heights[sel], 0.75)))
    if len(xs) < 2:
        h = float(np.quantile(heights, 0.75))
        return 0.0, h
    slope, intercept = np.polyfit(xs, ys, 1)
    if slope < 0:  # heights should not shrink toward the camera; fall back to a constant
        return 0.0, float(np.median(ys))
    return float(slope), float(intercept)


def _footfall(points: list[tuple[int, int]], shape: tuple[int, int], person_height: Any) -> np.ndarray | None:
    """Rarity map of feet positions: 0 where normal footage often had feet, 1 where never.

    Feet points are accumulated, blurred by about a third of a person's height (so a path
    seen once covers its neighbourhood) and turned into ``-log`` density scaled to [0, 1].
    """
    if len(points) < 20:
        return None
    h, w = shape
    counts = np.zeros((h, w), np.float32)
    for x, y in points:
        counts[min(h - 1, max(0, y)), min(w - 1, max(0, x))] += 1.0
    sigma = max(1.5, float(np.median(person_height(np.array([p[1] for p in points], float)))) / 3.0)
    density = cv2.GaussianBlur(counts, (0, 0), sigma)
    density /= max(float(density.max()), 1e-9)
    floor = 1e-3
    return (np.log(np.maximum(density, floor)) / math.log(floor)).astype(np.float32)
