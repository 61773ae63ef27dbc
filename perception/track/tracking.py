"""The one tracker: ByteTrack (Roboflow's ``trackers``) over detections, and what tracks measure.

Every track in the code comes from :class:`ObjectTracker`: the pipeline's object path follows
the detector's boxes (and the foreground blobs no detector named), and the agents' scene facts
follow the blobs of an event's frames with the same class. A track carries its class group, its
boxes, its feet point (bottom centre), and its speed and heading in **body heights per second**:
displacements divided by the height a standing person has at that spot, from a
:class:`PersonScale` learned on the camera's normal footage, so near and far are comparable.
Between the detector's looks :class:`FlowCarry` moves the boxes by optical flow; ByteTrack
takes those as low-confidence detections that continue the tracks they came from (they never
start one), and the observations they make are marked ``by_flow``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perception.detect import GROUPS, empty_detections, make_detections


@dataclass(frozen=True)
class PersonScale:
    """Expected height of a standing person, as a share of the frame height, at a feet row
    (share of the frame height from the top): ``slope * y + intercept``, at least ``floor``."""

    slope: float = 0.0
    intercept: float = 0.25
    floor: float = 0.02
    fitted: bool = False

    @classmethod
    def fit(cls, feet_y: np.ndarray, heights: np.ndarray) -> PersonScale:
        """From upright person boxes of normal footage (normalised feet rows and heights).

        Per band of rows the 75th percentile of heights is taken (fragments and half-hidden
        people are shorter, never taller); a line through the bands is the model. With too few
        boxes, the median height everywhere.
        """
        feet_y = np.asarray(feet_y, float)
        heights = np.asarray(heights, float)
        ok = (heights > 0) & np.isfinite(heights) & np.isfinite(feet_y)
        feet_y, heights = feet_y[ok], heights[ok]
        if feet_y.size < 20:
            return cls()
        xs, ys = [], []
        for lo, hi in zip(np.linspace(0, 1, 9)[:-1], np.linspace(0, 1, 9)[1:]):
            sel = (feet_y >= lo) & (feet_y < hi)
            if sel.sum() >= 5:
                xs.append(float(np.median(feet_y[sel])))
                ys.append(float(np.quantile(heights[sel], 0.75)))
        floor = max(0.005, 0.5 * float(np.quantile(heights, 0.05)))
        if len(xs) < 2:
            return cls(0.0, float(np.quantile(heights, 0.75)), floor, True)
        slope, intercept = np.polyfit(xs, ys, 1)
        if slope < 0:  # people do not shrink toward the camera: the data are too few to say
            return cls(0.0, float(np.median(ys)), floor, True)
        return cls(float(slope), float(intercept), floor, True)

    def height(self, feet_y: float | np.ndarray) -> np.ndarray:
        """Expected person height (share of the frame height) at normalised feet rows."""
        return np.maximum(self.floor, self.slope * np.asarray(feet_y, float) + self.intercept)

    def to_list(self) -> list[float]:
        return [self.slope, self.intercept, self.floor, float(self.fitted)]

    @classmethod
    def from_list(cls, values: Sequence[float] | None) -> PersonScale:
        if values is None or len(values) < 3:
            return cls()
        return cls(float(values[0]), float(values[1]), float(values[2]), bool(values[3]) if len(values) > 3 else True)


@dataclass
class Observation:
    """One detection of a track (box normalised to the frame, ``x1, y1, x2, y2``)."""

    t: float
    box: tuple[float, float, float, float]
    confidence: float
    groups: np.ndarray  # (len(GROUPS),) probabilities
    blob: bool = False  # came from the foreground, not from a detector
    named: int = -1     # the detector class that names it (someone riding: the bicycle's), -1: none
    by_flow: bool = False  # moved by optical flow from the last look, not seen by the detector

    @property
    def feet(self) -> tuple[float, float]:
        """Bottom centre of the box."""
        return (0.5 * (self.box[0] + self.box[2]), self.box[3])

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass
class Track:
    """A tracked object (see the module docstring)."""

    track_id: int
    #: five minutes at 8 sampled frames a second (tracks carried by optical flow have one each
    #: frame), twice the default loitering time
    observations: deque[Observation] = field(default_factory=lambda: deque(maxlen=2400))
    first_t: float = 0.0
    #: detector class id -> (confidence, time, JPEG bytes of the crop, box) of its clearest detection as that class
    thumbs: dict[int, tuple[float, float, bytes, tuple[float, float, float, float]]] = field(default_factory=dict)

    def keep_thumb(self, image: np.ndarray, max_px: int = 160, pad: float = 0.2) -> None:
        """Keep a crop of RGB ``image`` around the last observation if it is the clearest
        detection of its class so far (the track's keyframe, see :meth:`thumb`)."""
        o = self.last
        if o.named < 0 or o.blob or o.by_flow or o.confidence <= self.thumbs.get(o.named, (-1.0,))[0]:
            return
        import cv2

        h, w = image.shape[:2]
        x1, y1, x2, y2 = o.box
        px, py = pad * (x2 - x1), pad * (y2 - y1)
        c0, r0 = max(0, int((x1 - px) * w)), max(0, int((y1 - py) * h))
        c1, r1 = min(w, int(math.ceil((x2 + px) * w))), min(h, int(math.ceil((y2 + py) * h)))
        if c1 - c0 < 2 or r1 - r0 < 2:
            return
        crop = image[r0:r1, c0:c1]
        k = max_px / max(crop.shape[:2])
        if k < 1:
            crop = cv2.resize(crop, (max(1, int(crop.shape[1] * k)), max(1, int(crop.shape[0] * k))),
                              interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if ok:  # kept encoded: a few kilobytes per track, however long the source runs
            self.thumbs[o.named] = (o.confidence, o.t, jpeg.tobytes(), tuple(float(v) for v in o.box))  # type: ignore[assignment]

    def thumb(self, classes: Sequence[str]) -> tuple[float, bytes, tuple[float, float, float, float]] | None:
        """Time, JPEG crop and box (normalised xyxy) of the clearest detection as what names the
        track (:meth:`label`)."""
        label = self.label(classes)
        ids = [i for i in self.thumbs if 0 <= i < len(classes) and classes[i] == label] or list(self.thumbs)
        if not ids:
            return None
        _conf, t, crop, box = self.thumbs[max(ids, key=lambda i: self.thumbs[i][0])]
        return t, crop, box

    @property
    def last(self) -> Observation:
        return self.observations[-1]

    @property
    def last_t(self) -> float:
        return self.observations[-1].t

    @property
    def detections(self) -> int:
        """Observations the detector (or the foreground) made, not carried by optical flow."""
        return sum(1 for o in self.observations if not o.by_flow)

    @property
    def detected_t(self) -> float:
        """When the object was last seen by the detector rather than carried."""
        return next((o.t for o in reversed(self.observations) if not o.by_flow), self.first_t)

    def groups(self, t0: float | None = None, t1: float | None = None) -> np.ndarray:
        """Class-group probabilities over ``[t0, t1]`` (confidence-weighted mean of the
        detections there; of all the track's detections when it was only carried there)."""
        seen = [o for o in self.observations if not o.by_flow]
        obs = [o for o in self.between(t0, t1) if not o.by_flow] or seen or list(self.observations)
        w = np.array([max(o.confidence, 1e-3) for o in obs])
        return (np.stack([o.groups for o in obs]) * w[:, None]).sum(axis=0) / w.sum()

    @property
    def group(self) -> str:
        """The most likely class group over the whole track."""
        return GROUPS[int(np.argmax(self.groups()))]

    def label(self, classes: Sequence[str]) -> str:
        """What the object is, in the detector's class names: a class other than ``person`` seen
        on at least a fifth of its detections (and twice) names it (a rider is their bicycle or
        skateboard), else its most frequent class; ``unknown`` for foreground blobs alone."""
        named = [o.named for o in self.observations if 0 <= o.named < len(classes) and not o.by_flow]
        if not named:
            return "unknown"
        ids, counts = np.unique(np.array(named), return_counts=True)
        order = np.argsort(-counts)
        for i in order:
            if classes[int(ids[i])] != "person" and counts[i] >= max(2, 0.2 * len(named)):
                return classes[int(ids[i])]
        return classes[int(ids[order[0]])]

    def summary(self, classes: Sequence[str], scale: PersonScale, aspect: float, zones: Sequence[Any] = ()) -> dict[str, Any]:
        """The track as the index keeps it: label, group, the span it was seen as that label
        (``start_s``, ``end_s``; the whole track: ``first_s``, ``last_s``), speeds (body heights
        per second), mean confidence, its box halfway through that span (normalised), and the
        seconds its feet spent inside each of ``zones`` during that span (anything with ``name``
        and ``contains(x, y)``; zones it never entered are left out)."""
        obs = list(self.observations)
        label = self.label(classes)
        # the span it was seen as what names it (someone who gets on a bicycle is a bicycle from then)
        named = [o for o in obs if 0 <= o.named < len(classes) and classes[o.named] == label and not o.by_flow] or obs
        mid = named[len(named) // 2]
        v = self.velocities(scale, aspect, baseline_s=1.0)
        speeds = np.hypot(v[:, 0], v[:, 1]) if len(v) else np.zeros(0)
        return {
            "track_id": self.track_id, "label": label, "group": self.group,
            "start_s": round(named[0].t, 3), "end_s": round(named[-1].t, 3),
            "first_s": round(self.first_t, 3), "last_s": round(self.last_t, 3),
            "speed": round(float(np.median(speeds)), 3) if len(speeds) else 0.0,
            "speed_high": round(float(np.quantile(speeds, 0.9)), 3) if len(speeds) else 0.0,
            "confidence": round(float(np.mean([o.confidence for o in obs])), 3),
            "detections": self.detections, "box": [round(float(b), 4) for b in mid.box],
            "zones": _zone_seconds(named, zones),
        }

    def between(self, t0: float | None, t1: float | None) -> list[Observation]:
        return [o for o in self.observations if (t0 is None or o.t >= t0 - 1e-6) and (t1 is None or o.t <= t1 + 1e-6)]

    def velocities(self, scale: PersonScale, aspect: float, t0: float | None = None, t1: float | None = None,
                   baseline_s: float = 0.5) -> np.ndarray:
        """``(K, 2)`` feet velocities in body heights per second, each over at least ``baseline_s``
        (box edges jitter; a baseline averages that out), ending inside ``[t0, t1]``.

        Args:
            aspect: frame width / height (x and y distances compared in one unit).
        """
        obs = list(self.observations)
        out = []
        j = 0
        for i, o in enumerate(obs):
            if (t0 is not None and o.t < t0 - 1e-6) or (t1 is not None and o.t > t1 + 1e-6):
                continue
            while j + 1 < i and o.t - obs[j + 1].t >= baseline_s:
                j += 1
            a = obs[j]
            dt = o.t - a.t
            if j == i or dt < 0.75 * baseline_s:
                continue
            (xa, ya), (xb, yb) = a.feet, o.feet
            person = float(scale.height(0.5 * (ya + yb)))
            out.append(((xb - xa) * aspect / dt / person, (yb - ya) / dt / person))
        return np.array(out, float).reshape(-1, 2)

    def speed(self, scale: PersonScale, aspect: float, t0: float | None = None, t1: float | None = None,
              q: float = 0.5) -> float:
        """A quantile of :meth:`velocities`' magnitudes (0 with too little history)."""
        v = self.velocities(scale, aspect, t0, t1)
        return float(np.quantile(np.hypot(v[:, 0], v[:, 1]), q)) if len(v) else 0.0


def _zone_seconds(obs: Sequence[Observation], zones: Sequence[Any]) -> dict[str, float]:
    """Seconds between consecutive observations whose feet were inside each zone (entered ones only)."""
    out: dict[str, float] = {}
    for a, b in zip(obs, obs[1:]):
        for zone in zones:
            if zone.contains(*b.feet):
                out[zone.name] = out.get(zone.name, 0.0) + (b.t - a.t)
    return {k: round(v, 2) for k, v in out.items() if v > 0}


def merge_riders(dets: Any, overlap: float = 0.3) -> Any:
    """A wheeled box under a person box is one object (someone riding): union box, groups combined.

    ``overlap``: the share of the wheeled box that must lie inside the person's box, widened by
    half its width and lengthened by half its height downward (a bicycle sticks out).
    """
    if len(dets) < 2 or "groups" not in dets.data:
        return dets
    groups = np.asarray(dets.data["groups"], np.float32)
    person = groups[:, GROUPS.index("person")]
    wheeled = groups[:, GROUPS.index("wheeled")]
    is_person = (person >= wheeled) & (person > 0)
    xyxy = dets.xyxy.astype(np.float32).copy()
    conf = np.asarray(dets.confidence, np.float32).copy()
    named = np.asarray(dets.data.get("named", dets.class_id), int).copy()
    absorbed = np.zeros(len(dets), bool)
    for j in np.flatnonzero((wheeled > person) & (wheeled > 0)):
        bx1, by1, bx2, by2 = xyxy[j]
        area = max((bx2 - bx1) * (by2 - by1), 1e-6)
        best, best_share = -1, overlap
        for i in np.flatnonzero(is_person & ~absorbed):
            px1, py1, px2, py2 = xyxy[i]
            pw, ph = px2 - px1, py2 - py1
            ix1, iy1 = max(bx1, px1 - 0.5 * pw), max(by1, py1)
            ix2, iy2 = min(bx2, px2 + 0.5 * pw), min(by2, py2 + 0.5 * ph)
            share = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1) / area
            if share > best_share:
                best, best_share = i, share
        if best >= 0:
            xyxy[best] = [min(xyxy[best, 0], bx1), min(xyxy[best, 1], by1), max(xyxy[best, 2], bx2), max(xyxy[best, 3], by2)]
            groups[best] = np.maximum(groups[best], groups[j])
            conf[best] = max(conf[best], conf[j])
            named[best] = named[j]  # someone riding is named by what they ride
            absorbed[j] = True
    keep = ~absorbed
    return make_detections(xyxy[keep], conf[keep], np.asarray(dets.class_id)[keep], groups[keep], named[keep])


def add_unexplained(dets: Any, blobs: np.ndarray, covered: float = 0.3) -> Any:
    """Foreground regions no detection covers, added as ``unknown`` objects.

    Args:
        blobs: ``(N, 4+)`` region boxes (``x1, y1, x2, y2``, ...) in the detections' pixels.
        covered: a region with at least this share of its area inside detections is explained.
    """
    if len(blobs) == 0:
        return dets
    from perception.detect.blobs import UNKNOWN

    boxes = dets.xyxy if len(dets) else np.zeros((0, 4), np.float32)
    extra = []
    for b in blobs[:, :4]:
        area = max((b[2] - b[0]) * (b[3] - b[1]), 1e-6)
        inside = 0.0
        for d in boxes:
            inside += max(0.0, min(b[2], d[2]) - max(b[0], d[0])) * max(0.0, min(b[3], d[3]) - max(b[1], d[1]))
        if inside / area < covered:
            extra.append(b)
    if not extra:
        return dets
    extra_arr = np.array(extra, np.float32)
    n = len(dets)
    groups = np.concatenate([np.asarray(dets.data.get("groups", np.zeros((n, len(GROUPS)))), np.float32).reshape(n, len(GROUPS)),
                             np.repeat(UNKNOWN[None], len(extra_arr), axis=0)])
    return make_detections(np.concatenate([boxes.reshape(-1, 4), extra_arr]),
                           np.concatenate([np.asarray(dets.confidence if n else np.zeros(0), np.float32), np.ones(len(extra_arr))]),
                           np.concatenate([np.asarray(dets.class_id if n else np.zeros(0), int), np.full(len(extra_arr), -1)]),
                           groups,
                           np.concatenate([np.asarray(dets.data.get("named", dets.class_id) if n else np.zeros(0), int),
                                           np.full(len(extra_arr), -1)]))


@dataclass(frozen=True)
class TrackerSettings:
    """How detections are followed (seconds and confidences)."""

    lost_s: float = 1.5             # a track unseen this long is ended
    activation: float = 0.2         # confidence that starts a track
    high_confidence: float = 0.3    # detections at or above it are matched first and may start tracks (ByteTrack)
    min_iou: float = 0.05           # the least overlap that links a detection to a track
    keep_s: float = 30.0            # how much history a track keeps


class ObjectTracker:
    """ByteTrack over detections arriving at roughly ``rate_hz`` (see the module docstring).

    Boxes come in pixels of a ``frame_size`` frame and are kept normalised to it. ByteTrack
    names a track when it is seen a second time; with ``keep_first`` the track begins with the
    detection that started it (which matters when looks are a second or more apart).
    """

    def __init__(self, rate_hz: float, settings: TrackerSettings | None = None, keep_first: bool = False) -> None:
        from trackers import ByteTrackTracker

        self.settings = s = settings or TrackerSettings()
        self.rate_hz = float(rate_hz)
        # with timestamps (update) ByteTrack predicts over the real gap and ends tracks after
        # lost_track_buffer / 30 seconds; without them (follow), after that many calls at rate_hz
        self._tracker = ByteTrackTracker(
            frame_rate=self.rate_hz, lost_track_buffer=max(1, int(round(s.lost_s * 30.0))),
            track_activation_threshold=s.activation, high_conf_det_threshold=s.high_confidence,
            minimum_consecutive_frames=1, minimum_iou_threshold=s.min_iou,
        )
        if hasattr(self._tracker, "maximum_frames_without_update"):
            self._tracker.maximum_frames_without_update = max(1, int(round(s.lost_s * self.rate_hz)))
        self.tracks: dict[int, Track] = {}
        self.finished: list[Track] = []  # tracks no longer kept in :attr:`tracks`
        self.last_output: Any = None  # ByteTrack's answer to the last update (``tracker_id`` -1: not followed)
        self.keep_first = keep_first
        self._pending: list[tuple[Any, Observation]] = []  # (unnamed tracklet, the detection that started it)
        self._first: dict[int, Observation] = {}  # track id -> that detection, until its track is made

    def follow(self, dets: Any, t: float | None = None) -> Any:
        """ByteTrack's answer for one frame's detections as it gives it (``tracker_id`` set on the
        detections it follows, ``data`` kept), for callers that keep their own per-track records.

        Args:
            t: the frame's time; detections that arrive at varying rates need it.
        """
        return self._tracker.update(dets if dets is not None else empty_detections(), timestamp=t)

    def update(self, t: float, dets: Any, frame_size: tuple[int, int], blob: bool = False) -> list[Track]:
        """Feed one frame's detections (``frame_size`` = width, height); returns the tracks seen in it."""
        w, h = frame_size
        if dets is None:
            dets = empty_detections()
        out = self.follow(dets, t)
        self.last_output = out
        if self.keep_first:
            self._name_pending()
        seen: list[Track] = []
        spawned: list[Observation] = []
        if len(out) and out.tracker_id is not None:
            groups = out.data.get("groups") if out.data else None
            named = out.data.get("named") if out.data else None
            flow = out.data.get("by_flow") if out.data else None
            seen_conf = out.data.get("seen_confidence") if out.data else None
            for i, tid in enumerate(out.tracker_id):
                x1, y1, x2, y2 = (float(v) for v in out.xyxy[i])
                g = np.asarray(groups[i], np.float32) if groups is not None else np.eye(len(GROUPS), dtype=np.float32)[-1]
                carried = bool(flow[i]) if flow is not None else False
                if carried and seen_conf is not None:
                    conf = float(seen_conf[i])  # the confidence of the look it was carried from
                else:
                    conf = float(out.confidence[i]) if out.confidence is not None else 1.0
                cls = int(named[i]) if named is not None else -1
                obs = Observation(t, (x1 / w, y1 / h, x2 / w, y2 / h), conf, g, blob or bool(g[-1] >= 0.5), cls, carried)
                if tid < 0:
                    if self.keep_first and conf >= self.settings.activation and not carried:
                        spawned.append(obs)
                    continue
                track = self.tracks.get(int(tid))
                if track is None:
                    track = self.tracks[int(tid)] = Track(int(tid), first_t=t)
                    first = self._first.pop(int(tid), None)
                    if first is not None:
                        track.observations.append(first)
                        track.first_t = first.t
                track.observations.append(obs)
                seen.append(track)
        if self.keep_first:
            self._remember_spawned(spawned, w, h)
        # forget what has been gone longer than the history kept
        for tid in [k for k, tr in self.tracks.items() if t - tr.last_t > self.settings.keep_s]:
            self.finished.append(self.tracks.pop(tid))
        return seen

    def _name_pending(self) -> None:
        """Tracklets ByteTrack named in this update: their first detection waits under their id."""
        still = []
        for tl, obs in self._pending:
            if tl.tracker_id != -1:
                self._first[int(tl.tracker_id)] = obs
            elif any(tl is other for other in getattr(self._tracker, "tracks", [])):
                still.append((tl, obs))
        self._pending = still

    def _remember_spawned(self, spawned: list[Observation], w: int, h: int) -> None:
        """Keep the detections that started ByteTrack tracklets (which get an id only when seen
        again) with their tracklet, so that their track begins with them."""
        for tl in getattr(self._tracker, "tracks", []):
            if tl.tracker_id != -1 or any(tl is p for p, _o in self._pending) or not spawned:
                continue
            x1, y1, x2, y2 = (float(v) for v in tl.get_state_bbox())
            box = (x1 / w, y1 / h, x2 / w, y2 / h)
            best = min(spawned, key=lambda o: sum(abs(a - b) for a, b in zip(o.box, box)))
            if sum(abs(a - b) for a, b in zip(best.box, box)) < 1e-3:
                self._pending.append((tl, best))

    def every_track(self) -> list[Track]:
        """Every track of the source so far, ended or not, in the order they began."""
        return sorted([*self.finished, *self.tracks.values()], key=lambda tr: (tr.first_t, tr.track_id))

    def alive(self, t0: float, t1: float) -> list[Track]:
        """Tracks with an observation in ``[t0, t1]``."""
        return [tr for tr in self.tracks.values() if any(t0 - 1e-6 <= o.t <= t1 + 1e-6 for o in tr.observations)]


class FlowCarry:
    """Carries boxes from one frame to the next by sparse optical flow: between the detector's
    looks a track moves with what is inside its box.

    Corners inside each box (Shi-Tomasi) are followed with pyramidal Lucas-Kanade and checked
    backward; a box moves by the median motion of the points that move (a box holds background
    too, which stays put), or stays where it is when too few do. Frames are followed as grey
    images at most ``max_side`` pixels on their long side.

    Args:
        points: corners looked for per box.
        moving_px: displacement (pixels of the grey image) from which a point moves.
        moving_share: the least share of a box's followed points that must move for the box to move.
        max_error_px: the largest forward-backward disagreement of a point kept.
        window_px: side of the Lucas-Kanade window (pixels of the grey image, each pyramid level).
    """

    def __init__(self, max_side: int = 640, points: int = 24, moving_px: float = 0.3, moving_share: float = 0.2,
                 max_error_px: float = 1.0, window_px: int = 15) -> None:
        self.max_side = int(max_side)
        self.window_px = int(window_px)
        self.points = int(points)
        self.moving_px = float(moving_px)
        self.moving_share = float(moving_share)
        self.max_error_px = float(max_error_px)
        self._prev: np.ndarray | None = None
        self._scale = 1.0

    def reset(self) -> None:
        self._prev = None

    def _grey(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        h, w = image.shape[:2]
        k = min(1.0, self.max_side / max(h, w, 1))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if k < 1.0:
            grey = cv2.resize(grey, (max(8, int(round(w * k))), max(8, int(round(h * k)))), interpolation=cv2.INTER_AREA)
        return grey, k

    def remember(self, image: np.ndarray) -> None:
        """Make ``image`` (RGB, the frame the boxes were last placed in) the one followed from."""
        self._prev, self._scale = self._grey(image)

    def step(self, image: np.ndarray, boxes: dict[int, Sequence[float]]) -> dict[int, tuple[float, float, float, float]]:
        """Where ``boxes`` (id -> ``x1, y1, x2, y2`` in ``image`` pixels, placed in the frame
        remembered last) are in ``image``; ids whose boxes cannot be followed (no texture, left
        the frame) are left out. ``image`` becomes the frame followed from."""
        import cv2

        prev = self._prev
        grey, k = self._grey(image)
        self._prev, self._scale = grey, k
        if prev is None or prev.shape != grey.shape or not boxes:
            return {}
        gh, gw = grey.shape[:2]
        ids, starts, pts = [], [], []
        for tid, box in boxes.items():
            x1, y1, x2, y2 = (float(v) * k for v in box)
            c0, r0, c1, r1 = max(0, int(x1)), max(0, int(y1)), min(gw, int(math.ceil(x2))), min(gh, int(math.ceil(y2)))
            if c1 - c0 < 3 or r1 - r0 < 3:
                continue
            found = cv2.goodFeaturesToTrack(prev[r0:r1, c0:c1], self.points, 0.01, 2)
            if found is None or len(found) < 3:
                continue
            ids.append(tid)
            starts.append(len(pts))
            pts.extend((found.reshape(-1, 2) + np.array([c0, r0], np.float32)).tolist())
        if not pts:
            return {}
        p0 = np.array(pts, np.float32).reshape(-1, 1, 2)
        lk = {"winSize": (self.window_px, self.window_px), "maxLevel": 2,
              "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}
        p1, st, _ = cv2.calcOpticalFlowPyrLK(prev, grey, p0, None, **lk)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(grey, prev, p1, None, **lk)
        ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - p0).reshape(-1, 2), axis=1) <= self.max_error_px)
        motion = (p1 - p0).reshape(-1, 2)
        out: dict[int, tuple[float, float, float, float]] = {}
        ends = [*starts[1:], len(pts)]
        for tid, a, b in zip(ids, starts, ends):
            good = motion[a:b][ok[a:b]]
            if len(good) < 3:
                continue
            moving = good[np.linalg.norm(good, axis=1) >= self.moving_px]
            if len(moving) >= max(3, self.moving_share * len(good)):
                dx, dy = np.median(moving, axis=0) / k
            else:
                dx, dy = 0.0, 0.0
            x1, y1, x2, y2 = (float(v) for v in boxes[tid])
            h, w = image.shape[:2]
            nx1, ny1, nx2, ny2 = x1 + float(dx), y1 + float(dy), x2 + float(dx), y2 + float(dy)
            if nx2 <= 0 or ny2 <= 0 or nx1 >= w or ny1 >= h:
                continue  # gone out of the frame
            out[tid] = (nx1, ny1, nx2, ny2)
        return out


def cut_by_edge(x1: Any, y1: Any, x2: Any) -> Any:
    """Whether boxes (normalised left, top, right edges: floats or arrays) touch the frame's side
    or top edge, where their shape is not the object's (the bottom edge is where feet leave)."""
    return (x1 <= 0.01) | (x2 >= 0.99) | (y1 <= 0.01)


def frame_aspect(frame_size: tuple[int, int]) -> float:
    """Width over height."""
    w, h = frame_size
    return float(w) / max(float(h), 1.0)


def heading(v: np.ndarray) -> tuple[float, float]:
    """Unit direction of the mean of velocities ``(K, 2)`` (0, 0 when standing)."""
    if len(v) == 0:
        return (0.0, 0.0)
    m = v.mean(axis=0)
    n = math.hypot(float(m[0]), float(m[1]))
    return (0.0, 0.0) if n < 0.2 else (float(m[0]) / n, float(m[1]) / n)
