"""Object-level normality: what each tracked object does, against the camera's normal objects.

:class:`ObjectStage` runs the detector on sampled frames at ``detector_fps`` (faster, at
``flagged_fps``, while the cheap cell scorer flags the footage), adds foreground regions no
detection explains as ``unknown`` objects, and follows everything with the one tracker
(:mod:`perception.track.tracking`). With ``carry`` (the default for detectors), every sampled frame
between looks moves the tracks by optical flow (:class:`~perception.track.tracking.FlowCarry`), so
speeds are measured at the sampling rate however seldom the detector looks, and a track the
detector misses once goes on (for :meth:`ObjectStage.carry_s`); without it tracks wait for the
next look, and below about one look a second they no longer link from look to look. The
detector looks only around the foreground and the tracked objects (:func:`look_boxes`, cut on
the network's grid by the detector's ``detect_parts``) and at the whole region every
``full_look_s`` seconds, so its cost follows what moves, not the frame's size.

For each track seen in a window, :func:`object_features` gives one vector
(:data:`OBJECT_FEATURES`): its class-group probabilities, speed (median and high) and heading in
body heights per second, box height and width relative to a person standing there, where its
feet are, and how long it has been on screen. :class:`ObjectNormality` scores those vectors by
their distance to the nearest objects of the camera's normal footage (k nearest neighbours over
scaled features), in units of a high quantile of held-out normal distances, like the cell
levels of :class:`~perception.score.scoring.NormalityModel`. A track keeps the highest score it had
over the last ``memory_s`` seconds: a cyclist flagged once stays flagged while it is in view,
even where the detector only sees the rider.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.neighbors import KDTree

from perception.detect import GROUPS, Detector
from perception.track.tracking import (
    FlowCarry,
    ObjectTracker,
    PersonScale,
    Track,
    TrackerSettings,
    add_unexplained,
    frame_aspect,
    heading,
    merge_riders,
)

OBJECT_FEATURES: tuple[str, ...] = (
    *(f"p_{g}" for g in GROUPS), "speed", "speed_high", "heading_x", "heading_y", "height", "width", "x", "y", "age",
)
#: how much each feature counts in the distance, after scaling to its normal spread: what an
#: object is and how it moves count most; where it is, which way and for how long only a
#: little (a few minutes of normal footage cover the places and directions sparsely, so these
#: would make ordinary objects look rare)
FEATURE_WEIGHTS: dict[str, float] = {
    **{f"p_{g}": 2.0 for g in GROUPS}, "speed": 1.0, "speed_high": 1.0, "heading_x": 0.2, "heading_y": 0.2,
    "height": 0.75, "width": 0.75, "x": 0.2, "y": 0.2, "age": 0.2,
}
MAX_BANK = 30000
#: seconds a speed is measured over: box edges jitter from one detection to the next, and a
#: second of travel averages that out at the detector's ordinary rate
SPEED_BASELINE_S = 1.0


@dataclass(frozen=True)
class StageSettings:
    """When the detector runs and which objects are followed."""

    detector_fps: float = 1.0       # detections per second of video on ordinary footage (0: only flagged)
    flagged_fps: float = 2.0        # ... while the cell scorer flags the footage
    blob_flagged_fps: float = 8.0   # ... when the foreground blobs are the detector (their looks cost little)
    flag_score: float = 0.2         # calibrated cell score from which footage counts as flagged
    unexplained_blobs: bool = False  # also follow foreground regions no detection covers (unknown objects)
    min_confidence: float = 0.15    # detections weaker than this are not followed
    memory_s: float = 0.0           # a track keeps its highest score this long
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # where the detector looks (normalised)
    crops: bool = True              # look only around foreground regions and tracked objects (same scale) ...
    full_look_s: float = 4.0        # ... and at the whole region this often (seconds of video)
    crop_pad: float = 0.5           # a crop reaches this share of an object's longer side beyond it
    crop_min_px: int = 128          # the least crop side, in network pixels (the detector needs context)
    crop_full_share: float = 0.75   # crops covering more of the region than this: look at all of it
    carry: bool = True              # between a detector's looks, tracks move by optical flow (else they wait)


class ObjectStage:
    """Detector + tracker over one source's sampled frames (see the module docstring).

    Args:
        detector: the camera's detector (``None``: blobs only, when ``blobs`` is given).
        blobs: the blob detector that explains the rest of the foreground (or is the detector).
        settings: rates and thresholds.
        tracker: how detections are followed.
    """

    def __init__(self, detector: Detector | None, blobs: Detector | None = None, settings: StageSettings | None = None,
                 tracker: TrackerSettings | None = None) -> None:
        self.detector = detector
        self.blobs = blobs
        self.settings = settings or StageSettings()
        self._tracker_settings = tracker or TrackerSettings()
        self.flow = FlowCarry() if self.settings.carry and detector is not None else None
        self.foreground_px = 0.0  # moving foreground seen on detection frames ...
        self.covered_px = 0.0     # ... and how much of it lay inside detections
        self.reset()

    @property
    def flagged_fps(self) -> float:
        """Looks per second while flagged: the detector's, or the blobs' when they are the detector."""
        return self.settings.flagged_fps if self.detector is not None else self.settings.blob_flagged_fps

    @property
    def coverage(self) -> float | None:
        """Share of the moving foreground the detector's boxes covered (``None`` before any)."""
        return self.covered_px / self.foreground_px if self.foreground_px > 0 else None

    def reset(self) -> None:
        """Start a new source (the coverage tally runs on across sources)."""
        self.tracker = ObjectTracker(max(self.settings.detector_fps, self.flagged_fps / 4, 0.5),
                                     self._tracker_settings, keep_first=self.flow is not None)
        self._next_t: float | None = None
        self.flagged = False
        self.frame_size: tuple[int, int] | None = None
        self.detections = 0
        #: (time, (K, 4) normalised xyxy boxes) of what each look found or the flow carried, newest
        #: last: where objects were, whether or not the tracker has named their tracks yet
        self.seen: deque[tuple[float, np.ndarray]] = deque(maxlen=1024)
        self.crop_looks = 0  # detections that looked at crops only
        self._full_t: float | None = None
        self._last_t: float | None = None  # the frame pushed last
        if self.flow is not None:
            self.flow.reset()
        self.peaks: dict[int, tuple[float, float]] = {}  # track id -> (time, score) of its highest recent score

    def due(self, t: float) -> bool:
        """Whether the detector runs on the frame at ``t``."""
        if self.flagged and self._next_t is not None and self._next_t == math.inf:
            return True  # just flagged after a quiet stretch: look now
        return self._next_t is None or t >= self._next_t - 1e-6

    def push(self, t: float, image: np.ndarray) -> bool:
        """Detect and track on this frame if it is due (with ``carry``, move the tracks by
        optical flow on every frame too); returns whether the detector looked."""
        if self.flow is not None:
            return self._push_carrying(t, image)
        if not self.due(t):
            return False
        rate = self.flagged_fps if self.flagged else self.settings.detector_fps
        self._next_t = t + (1.0 / rate if rate > 0 else math.inf)
        h, w = image.shape[:2]
        self.frame_size = (w, h)
        dets = self.detect(image, t)
        self._remember(t, dets)
        for track in self.tracker.update(t, dets, (w, h)):
            track.keep_thumb(image)
        self.detections += 1
        return True

    def _remember(self, t: float, dets: Any) -> None:
        """Keep the boxes of one frame's objects (:attr:`seen`)."""
        w, h = self.frame_size or (1, 1)
        boxes = np.asarray(dets.xyxy, np.float32).reshape(-1, 4) if dets is not None and len(dets) else np.zeros((0, 4))
        self.seen.append((t, boxes / np.array([w, h, w, h], np.float32)))

    def carry_s(self) -> float:
        """How long a track is carried by optical flow without the detector seeing it again: two
        ordinary looks at it (one may miss it), at least the tracker's ``lost_s``."""
        s = self.settings
        rate = s.detector_fps if s.detector_fps > 0 else self.flagged_fps
        return max(self._tracker_settings.lost_s, 2.0 / rate + 1e-6)

    def _push_carrying(self, t: float, image: np.ndarray) -> bool:
        """One frame with tracks carried by optical flow (see :meth:`push`): the detector's
        look when one is due, else the tracks of the previous frame moved by the flow. (A look
        feeds the tracker the detections alone: carried boxes beside them would be matched by
        overlap to whichever track is nearest, in a crowd often another's.)"""
        assert self.flow is not None
        h, w = image.shape[:2]
        previous, self._last_t = self._last_t, t
        same = self.frame_size == (w, h)
        self.frame_size = (w, h)
        if self._carry_looks(t):
            dets = self.detect(image, t)
            self._remember(t, dets)
            if len(dets):
                dets.data["by_flow"] = np.zeros(len(dets), bool)
                dets.data["seen_confidence"] = np.asarray(dets.confidence, np.float32)
                dets.data["seen_t"] = np.full(len(dets), t, np.float32)
            for track in self.tracker.update(t, dets, (w, h)):
                track.keep_thumb(image)
            self.flow.remember(image)
            self.detections += 1
            return True
        carried = self._carried(t, image, previous) if same else None
        if not same:
            self.flow.remember(image)
        if carried is None:
            self.tracker.last_output = None  # nothing followed here: nothing to carry on
        else:
            self._remember(t, carried)
            self.tracker.update(t, carried, (w, h))
        return False

    def _carried(self, t: float, image: np.ndarray, previous: float | None) -> Any:
        """What the tracker followed in the previous frame, moved here by optical flow, as
        low-confidence detections (``None`` if nothing): the objects of tracks, and detections
        that just started one (ByteTrack names a track when it is seen a second time)."""
        from perception.detect import make_detections

        assert self.flow is not None
        last = self.tracker.last_output
        ts = self._tracker_settings
        rows: list[int] = []
        if previous is not None and last is not None and len(last) and "seen_t" in last.data:
            ids = np.asarray(last.tracker_id if last.tracker_id is not None else np.full(len(last), -1))
            conf = np.asarray(last.confidence)
            seen = np.asarray(last.data["seen_t"], float)
            limit = self.carry_s()
            rows = [i for i in range(len(last))
                    if t - seen[i] <= limit and (ids[i] >= 0 or (conf[i] >= ts.activation and seen[i] == previous))]
        moved = self.flow.step(image, {i: last.xyxy[i] for i in rows})
        if not moved:
            return None
        keep = list(moved)
        data = last.data
        dets = make_detections(np.array([moved[i] for i in keep], np.float32),
                               # below ByteTrack's high confidence: they only continue the tracks they came from
                               np.full(len(keep), 0.5 * ts.high_confidence, np.float32),
                               np.asarray(last.class_id)[keep], np.asarray(data["groups"])[keep],
                               np.asarray(data["named"])[keep])
        dets.data["by_flow"] = np.ones(len(keep), bool)
        dets.data["seen_confidence"] = np.asarray(data["seen_confidence"], np.float32)[keep]
        dets.data["seen_t"] = np.asarray(data["seen_t"], np.float32)[keep]
        return dets

    def _carry_looks(self, t: float) -> bool:
        """Whether the detector looks on this frame (at ``detector_fps``; ``flagged_fps`` while
        flagged), starting the wait for the next look if so."""
        if not self.due(t):
            return False
        rate = self.flagged_fps if self.flagged else self.settings.detector_fps
        self._next_t = t + (1.0 / rate if rate > 0 else math.inf)
        return True

    def detect(self, image: np.ndarray, t: float | None = None) -> Any:
        """The objects of one frame: detections (riders merged), plus unexplained foreground.

        With ``crops`` on and a detector that takes a scale, the detector looks only around the
        frame's foreground regions and the objects being tracked, at the scale it would see the
        whole region at (so the same objects are found), and at the whole region every
        ``full_look_s`` seconds (``t``: the frame's time; without one, always the whole region).
        """
        from perception.detect import empty_detections

        dets = None
        regions = self.blobs.regions(image) if self.blobs is not None and hasattr(self.blobs, "regions") else None
        if self.detector is not None:
            crop, (ox, oy) = crop_region(image, self.settings.region)
            parts = self._looks(crop.shape[:2], (ox, oy), image.shape[:2], regions, t)
            if parts is None:
                dets = self.detector.detect([crop])[0]
            else:
                self.crop_looks += 1
                dets = self.detector.detect_parts(crop, parts) if len(parts) else empty_detections()  # type: ignore[attr-defined]
            if len(dets):
                dets = dets[np.asarray(dets.confidence) >= self.settings.min_confidence]
                dets.xyxy = dets.xyxy + np.array([ox, oy, ox, oy], np.float32)
            dets = merge_riders(dets)
        if regions is not None and dets is not None:
            self._tally(regions, dets)
        if regions is not None and (self.detector is None or self.settings.unexplained_blobs):
            dets = add_unexplained(dets if dets is not None else empty_detections(), regions)
        return dets if dets is not None else empty_detections()

    def _looks(self, crop_hw: tuple[int, int], origin: tuple[int, int], frame_hw: tuple[int, int],
               regions: np.ndarray | None, t: float | None) -> np.ndarray | None:
        """Boxes (in the region crop's pixels) the detector looks at, or ``None`` for all of it."""
        s = self.settings
        scale_for = getattr(self.detector, "scale_for", None)
        if not s.crops or scale_for is None or not hasattr(self.detector, "detect_parts") or regions is None or t is None:
            return None
        if self._full_t is None or t - self._full_t >= s.full_look_s - 1e-6:
            self._full_t = t
            return None
        (ch, cw), (ox, oy), (fh, fw) = crop_hw, origin, frame_hw
        boxes = [np.asarray(regions, np.float32).reshape(-1, 5)[:, :4] - np.array([ox, oy, ox, oy], np.float32)]
        lost = self._tracker_settings.lost_s
        for track in self.tracker.tracks.values():
            if t - track.last_t <= lost:
                x1, y1, x2, y2 = track.last.box
                boxes.append(np.array([[x1 * fw - ox, y1 * fh - oy, x2 * fw - ox, y2 * fh - oy]], np.float32))
        return look_boxes(np.concatenate(boxes), (cw, ch), float(scale_for(ch, cw)), s.crop_min_px, s.crop_pad,
                          s.crop_full_share)

    def _tally(self, regions: np.ndarray, dets: Any) -> None:
        """Add one frame to the :attr:`coverage` tally."""
        boxes = dets.xyxy if len(dets) else np.zeros((0, 4))
        for x1, y1, x2, y2, area in regions:
            box_area = max((x2 - x1) * (y2 - y1), 1e-6)
            inside = 0.0
            for b in boxes:
                inside = max(inside, max(0.0, min(x2, b[2]) - max(x1, b[0])) * max(0.0, min(y2, b[3]) - max(y1, b[1])))
            self.foreground_px += float(area)
            self.covered_px += float(area) * min(1.0, inside / box_area)


def crop_region(image: np.ndarray, region: Sequence[float]) -> tuple[np.ndarray, tuple[int, int]]:
    """The part of ``image`` inside a normalised region, and its top-left corner in pixels."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = region
    if (x1, y1, x2, y2) == (0.0, 0.0, 1.0, 1.0):
        return image, (0, 0)
    c0, r0 = int(np.floor(x1 * w)), int(np.floor(y1 * h))
    c1, r1 = max(c0 + 8, int(np.ceil(x2 * w))), max(r0 + 8, int(np.ceil(y2 * h)))
    return image[r0:r1, c0:c1], (c0, r0)


def look_boxes(boxes: np.ndarray, size: tuple[int, int], scale: float, min_px: float, pad: float,
               full_share: float) -> np.ndarray | None:
    """Where a detector at ``scale`` (network pixels per image pixel) should look in a
    ``size`` = (width, height) image to see the objects in ``boxes`` (``(N, 4)`` xyxy pixels):
    each box widened by ``pad`` of its longer side and to at least ``min_px`` network pixels a
    side, kept inside the image, overlapping ones merged. ``None`` when they would cover more
    than ``full_share`` of the image (looking at all of it costs little more); an empty array
    when there is nothing to look at."""
    w, h = size
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    boxes = boxes[(boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (boxes[:, 0] < w) & (boxes[:, 1] < h)]
    if len(boxes) == 0:
        return np.zeros((0, 4), np.float32)
    side = min_px / max(scale, 1e-6)
    out = []
    for x1, y1, x2, y2 in boxes:
        m = pad * max(x2 - x1, y2 - y1)
        half_w, half_h = max((x2 - x1) / 2 + m, side / 2), max((y2 - y1) / 2 + m, side / 2)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        (lx1, lx2), (ly1, ly2) = _inside(cx - half_w, cx + half_w, w), _inside(cy - half_h, cy + half_h, h)
        out.append([lx1, ly1, lx2, ly2])
    i = 0
    while i < len(out):  # merge overlapping crops; a merged one is checked again against all
        a = out[i]
        j = next((j for j in range(i + 1, len(out))
                  if a[0] < out[j][2] and out[j][0] < a[2] and a[1] < out[j][3] and out[j][1] < a[3]), None)
        if j is None:
            i += 1
            continue
        b = out.pop(j)
        out[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
        i = 0
    arr = np.array(out, np.float32)
    if float(((arr[:, 2] - arr[:, 0]) * (arr[:, 3] - arr[:, 1])).sum()) > full_share * w * h:
        return None
    return np.round(arr)


def _inside(lo: float, hi: float, limit: int) -> tuple[float, float]:
    """The span ``[lo, hi]`` moved (not shrunk) to lie within ``[0, limit]``, clipped if longer."""
    if hi - lo >= limit:
        return 0.0, float(limit)
    if lo < 0:
        return 0.0, hi - lo
    if hi > limit:
        return float(limit) - (hi - lo), float(limit)
    return float(lo), float(hi)


def activity_region(boxes: np.ndarray, frame_size: tuple[int, int], pad: float = 0.1,
                    full_share: float = 0.85) -> tuple[float, float, float, float]:
    """Where things move in a camera's normal footage: the span of rows and columns holding all
    but the outer half percent of the foreground (``boxes``: ``x1, y1, x2, y2, area`` in pixels),
    widened by ``pad`` of the frame (a person's height, roughly); the whole frame when that
    covers most of it anyway."""
    w, h = frame_size
    if len(boxes) == 0:
        return (0.0, 0.0, 1.0, 1.0)
    rows = np.zeros(h)
    cols = np.zeros(w)
    for x1, y1, x2, y2, area in boxes:
        r0, r1 = int(max(0, y1)), int(min(h, max(y2, y1 + 1)))
        c0, c1 = int(max(0, x1)), int(min(w, max(x2, x1 + 1)))
        rows[r0:r1] += area / max(r1 - r0, 1)
        cols[c0:c1] += area / max(c1 - c0, 1)

    def span(v: np.ndarray) -> tuple[float, float]:
        c = np.cumsum(v) / max(v.sum(), 1e-9)
        return float(np.searchsorted(c, 0.005)) / len(v), float(np.searchsorted(c, 0.995) + 1) / len(v)

    (y1, y2), (x1, x2) = span(rows), span(cols)
    region = (max(0.0, x1 - pad), max(0.0, y1 - pad), min(1.0, x2 + pad), min(1.0, y2 + pad))
    if (region[2] - region[0]) * (region[3] - region[1]) >= full_share:
        return (0.0, 0.0, 1.0, 1.0)
    return tuple(round(v, 3) for v in region)  # type: ignore[return-value]


def object_features(track: Track, t0: float, t1: float, scale: PersonScale, aspect: float) -> np.ndarray | None:
    """The :data:`OBJECT_FEATURES` vector of ``track`` over ``[t0, t1]``, or ``None`` if unseen there."""
    obs = track.between(t0, t1)
    if not obs:
        return None
    last = obs[-1]
    person = float(scale.height(last.feet[1]))
    v = track.velocities(scale, aspect, t0, t1, baseline_s=SPEED_BASELINE_S)
    speeds = np.hypot(v[:, 0], v[:, 1]) if len(v) else np.zeros(0)
    hx, hy = heading(v)
    heights = np.array([o.height for o in obs])
    widths = np.array([o.width for o in obs])
    return np.concatenate([
        track.groups(t0, t1),
        [float(np.median(speeds)) if speeds.size else 0.0, float(speeds.max()) if speeds.size else 0.0, hx, hy,
         float(np.median(heights)) / person, float(np.median(widths)) * aspect / person,
         last.feet[0], last.feet[1], math.log1p(max(0.0, last.t - track.first_t))],
    ]).astype(np.float32)


def window_objects(stage: ObjectStage, scale: PersonScale, t0: float, t1: float) -> tuple[list[Track], np.ndarray]:
    """Tracks seen in ``[t0, t1]`` and their feature rows ``(M, F)``."""
    if stage.frame_size is None:
        return [], np.zeros((0, len(OBJECT_FEATURES)), np.float32)
    aspect = frame_aspect(stage.frame_size)
    tracks, rows = [], []
    for tr in stage.tracker.alive(t0, t1):
        f = object_features(tr, t0, t1, scale, aspect)
        if f is not None:
            tracks.append(tr)
            rows.append(f)
    return tracks, (np.stack(rows) if rows else np.zeros((0, len(OBJECT_FEATURES)), np.float32))


@dataclass
class ObjectScore:
    """What the object level says about one window."""

    level: float = 0.0                  # the window's object score, in held-out high-quantile units
    track_id: int | None = None         # the most unusual object
    group: str | None = None
    box: tuple[float, float, float, float] | None = None  # its last box, normalised
    objects: list[dict[str, Any]] = field(default_factory=list)  # every scored object, for the record


class ObjectNormality:
    """k-nearest-neighbour normality of object feature vectors (see the module docstring).

    Args:
        bank: ``(N, F)`` feature vectors of the camera's normal objects.
        k: neighbours averaged.
        scale: per-feature divisor (default: the typical spread of normal values).
        level_scale: the held-out high quantile of per-window distances (set by :meth:`calibrate`).
    """

    def __init__(self, bank: np.ndarray, k: int = 3, scale: np.ndarray | None = None, level_scale: float = 1.0) -> None:
        bank = np.asarray(bank, np.float32).reshape(-1, len(OBJECT_FEATURES))
        if len(bank) == 0:
            raise ValueError("no normal objects to learn from")
        if len(bank) > MAX_BANK:
            bank = bank[np.linspace(0, len(bank) - 1, MAX_BANK).astype(int)]
        self.raw_bank = bank
        self.k = max(1, int(k))
        self.scale = np.asarray(scale, np.float32) if scale is not None else _spread(bank)
        self.weights = np.array([FEATURE_WEIGHTS[n] for n in OBJECT_FEATURES], np.float32)
        self.level_scale = float(level_scale)
        self._tree = KDTree(self._scaled(bank))

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float32) / self.scale * self.weights

    def distances(self, rows: np.ndarray) -> np.ndarray:
        """Raw distances of feature rows to the normal bank."""
        if len(rows) == 0:
            return np.zeros(0, np.float32)
        k = min(self.k, self._tree.data.shape[0])
        d, _ = self._tree.query(self._scaled(rows), k=k)
        return d.mean(axis=1).astype(np.float32)

    def levels(self, rows: np.ndarray) -> np.ndarray:
        """Distances in units of the held-out high quantile."""
        return self.distances(rows) / max(self.level_scale, 1e-6)

    def calibrate(self, window_max: np.ndarray) -> None:
        """Set :attr:`level_scale` from held-out normal per-window maxima (windows with objects)."""
        from perception.score.scoring import _robust_high

        values = np.asarray(window_max, float)
        values = values[values > 0]
        self.level_scale = _robust_high(values) if values.size >= 10 else (float(values.max()) if values.size else 1.0)

    # ------------------------------------------------------------------ persistence
    def arrays(self) -> dict[str, np.ndarray]:
        return {"bank": self.raw_bank, "scale": self.scale, "level_scale": np.array([self.level_scale], np.float32)}

    def settings(self) -> dict[str, Any]:
        return {"k": self.k, "features": list(OBJECT_FEATURES)}

    @classmethod
    def restore(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> ObjectNormality:
        if list(settings.get("features", [])) != list(OBJECT_FEATURES):
            raise ValueError("object features changed since the profile was fitted")
        return cls(arrays["bank"], k=int(settings.get("k", 3)), scale=arrays["scale"],
                   level_scale=float(np.asarray(arrays["level_scale"]).ravel()[0]))


def _spread(bank: np.ndarray) -> np.ndarray:
    """Per feature: a typical normal magnitude of its variation (robust, floored)."""
    out = np.ones(bank.shape[1], np.float32)
    for j, name in enumerate(OBJECT_FEATURES):
        col = bank[:, j]
        if name.startswith("p_") or name.startswith("heading") or name in ("x", "y"):
            out[j] = 0.25  # probabilities, directions and positions: on their own 0..1 scale
            continue
        spread = float(np.quantile(np.abs(col - np.median(col)), 0.75))
        out[j] = max(spread, 0.05 * max(float(np.median(np.abs(col))), 1e-3), 1e-3)
    return out


def score_window(model: ObjectNormality, tracks: Sequence[Track], rows: np.ndarray, t: float, peaks: dict[int, tuple[float, float]],
                 memory_s: float) -> ObjectScore:
    """The object level of a window ending at ``t``: the highest (remembered) object score."""
    if len(rows) == 0:
        return ObjectScore()
    levels = model.levels(rows)
    out = ObjectScore()
    for tr, lv in zip(tracks, levels):
        past = peaks.get(tr.track_id)
        if past is not None and t - past[0] <= memory_s and past[1] >= lv:
            eff = past[1]
        else:
            eff = float(lv)
            peaks[tr.track_id] = (t, eff)
        out.objects.append({"track_id": tr.track_id, "group": tr.group, "level": round(eff, 3),
                            "box": [round(v, 4) for v in tr.last.box]})
        if eff > out.level:
            out.level, out.track_id, out.group, out.box = eff, tr.track_id, tr.group, tr.last.box
    for tid in [k for k, (pt, _v) in peaks.items() if t - pt > memory_s]:
        peaks.pop(tid, None)
    return out


def fit_scale(observations: Iterable[tuple[float, float, str]]) -> PersonScale:
    """A :class:`PersonScale` from ``(feet_y, height, group)`` of normal objects: people's boxes
    when the detector names people, else upright unknown blobs."""
    rows = list(observations)
    people = [(y, h) for y, h, g in rows if g == "person"]
    use = people if len(people) >= 20 else [(y, h) for y, h, g in rows if g == "unknown"]
    if not use:
        return PersonScale()
    arr = np.array(use, float)
    return PersonScale.fit(arr[:, 0], arr[:, 1])
