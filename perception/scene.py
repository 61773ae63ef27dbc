"""Scene facts: who and what moved where during an event, from the detector's tracks and tracked foreground blobs.

Two sources, one form. The object path's tracks (:class:`DetectedObjects`, a copy taken while
the footage is read) carry the detector's class names: :func:`object_facts` turns each into a
:class:`TrackFacts` with its ``label`` (``bicycle``, ``person``) and class-group probabilities.
Foreground blobs of the camera's motion model (background, perspective), followed by the same
tracker (:class:`perception.tracking.ObjectTracker`: ByteTrack over ``supervision.Detections``),
cover what no detector names (:func:`scene_facts`); :func:`combine_facts` keeps the blob tracks
that no named object explains. Each :class:`TrackFacts` has its path of feet points, size in
person areas, shape, speeds in body heights per second, time spent still, and seconds inside
each configured zone. :meth:`SceneFacts.text` renders them as plain sentences, which is what the
agents read when no vision-language model is configured.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from perception.detect import GROUPS, group_of
from perception.encoders.motion import LARGE_BLOB, MotionEncoder
from perception.norms import BLOB_FEATURES, BlobNorms, TrackNorms
from perception.tracking import (
    ObjectTracker,
    PersonScale,
    Track,
    TrackerSettings,
    cut_by_edge,
    frame_aspect,
)
from perception.video import Frame
from vigil.core.config import Zone

STILL_SPEED = 0.25  # body heights per second (default of detection.still_speed)
#: width of a standing person's box as a share of its height (arms and stride included): a
#: detector box's area over this many squared person heights is its size in person areas
PERSON_BOX_WIDTH = 0.4
#: seconds a person-sized track must be seen for its speed to say whether it ran (the running
#: rule's, and the normal tracks' it is compared with)
RUN_MIN_S = 1.5


def cut_by_frame(p: TrackPoint) -> bool:
    """Whether a point's box touches the frame's side or top edge: its shape is not the object's."""
    return bool(cut_by_edge(p.x - p.w / 2, p.y - p.h, p.x + p.w / 2))


def self_aspect(point: TrackPoint) -> float:
    """Width/height ratio of the frame a point was measured in (stored with the point)."""
    return point.frame_aspect


@dataclass
class TrackPoint:
    """One observation of a track (normalised image coordinates)."""

    t: float
    x: float        # feet, horizontal
    y: float        # feet, vertical
    w: float        # box width
    h: float        # box height
    size: float     # person areas
    speed: float    # body heights per second since the previous point
    frame_aspect: float = 4 / 3  # frame width / height, to compare x and y distances
    zones: tuple[str, ...] = ()  # zones the feet are in
    person_h: float = 0.0  # expected height of a person standing here (normalised), 0 if unknown


@dataclass
class TrackFacts:
    """What one tracked blob did."""

    track_id: int
    kind: str  # person | large | small
    points: list[TrackPoint] = field(default_factory=list)
    zones: dict[str, float] = field(default_factory=dict)  # zone name -> seconds inside
    still_speed: float = STILL_SPEED  # body heights per second below which it is still
    label: str = ""  # the detector's class name for it ("" for a foreground blob)
    groups: dict[str, float] = field(default_factory=dict)  # class-group probabilities (detector tracks)
    stats: np.ndarray | None = None  # its perception.norms.NORM_FEATURES row over the stretch (detector tracks)
    since_t: float | None = None  # when the object was first seen, before the stretch too (detector tracks)

    @property
    def first_t(self) -> float:
        return self.points[0].t

    @property
    def last_t(self) -> float:
        return self.points[-1].t

    @property
    def duration_s(self) -> float:
        return self.last_t - self.first_t

    def speeds(self) -> np.ndarray:
        return np.array([p.speed for p in self.points[1:]]) if len(self.points) > 1 else np.zeros(0)

    def speed_quantile(self, q: float) -> float:
        s = self.speeds()
        return float(np.quantile(s, q)) if s.size else 0.0

    def baseline_speeds(self, baseline_s: float = 1.0, max_size: float | None = None) -> list[tuple[float, float]]:
        """``(time, speed)`` of each point measured over the last ``baseline_s`` seconds rather
        than since the previous point (body heights per second).

        Box edges jitter when blobs split and merge; a one-second baseline averages that out.
        With ``max_size`` (person areas), points where the track was larger (a person's blob
        merged with a passing car or a group) are left out: what moved there was not them.
        """
        pts = self.points if max_size is None else [p for p in self.points if p.size <= max_size]
        out: list[tuple[float, float]] = []
        j = 0
        for i, p in enumerate(pts):
            while j < i and p.t - pts[j + 1].t >= baseline_s:
                j += 1
            a = pts[j]
            dt = p.t - a.t
            if dt >= 0.75 * baseline_s:
                # the perspective model's person height, not the box's (boxes shrink when blobs split)
                scale = max(0.5 * (p.person_h + a.person_h), 1e-6) if p.person_h and a.person_h else max(0.5 * (p.h + a.h), 1e-6)
                out.append((p.t, math.hypot((p.x - a.x) * self_aspect(p), p.y - a.y) / dt / scale))
        return out

    def sustained_speed(self, q: float, baseline_s: float = 1.0, max_size: float | None = None) -> float:
        """A quantile of :meth:`baseline_speeds`."""
        speeds = [v for _t, v in self.baseline_speeds(baseline_s, max_size)]
        return float(np.quantile(speeds, q)) if speeds else 0.0

    def fast_span(self, speed: float, baseline_s: float = 1.0, max_size: float | None = None) -> float:
        """The longest stretch (seconds) over which :meth:`baseline_speeds` stay at ``speed`` or
        more, counting the baseline the first fast reading was measured over."""
        best, start = 0.0, None
        for t, v in self.baseline_speeds(baseline_s, max_size):
            if v >= speed:
                start = t if start is None else start
                best = max(best, t - start + baseline_s)
            else:
                start = None
        return best

    def aspects(self) -> np.ndarray:
        return np.array([p.w / max(p.h, 1e-6) for p in self.points])

    def size(self) -> float:
        return float(np.median([p.size for p in self.points]))

    def still_s(self) -> float:
        """Longest stretch spent (nearly) still, in seconds."""
        return self.still_stretch()[1]

    def still_stretch(self) -> tuple[float, float]:
        """Start time and length of the longest (nearly) still stretch."""
        best = run = 0.0
        start = best_start = self.first_t
        for a, b in zip(self.points, self.points[1:]):
            if b.speed < self.still_speed:
                if run == 0.0:
                    start = a.t
                run += b.t - a.t
                if run > best:
                    best, best_start = run, start
            else:
                run = 0.0
        return best_start, best

    def rest_stretch(self) -> tuple[float, float]:
        """Start time and length of the longest stretch over which the feet stay within
        ``still_speed`` x 1 s (body heights) of where the stretch began.

        Where something came to rest, not how fast it moves from one frame to the next: a small
        object's blob jitters by a pixel or two, which from frame to frame reads as a speed.
        Boxes the frame edge cuts are never at rest: what shows may be the edge of something
        larger, entering or leaving the view; a track with no other boxes gives ``(nan, 0.0)``."""
        best, best_start = 0.0, math.nan
        pts = self.points
        for i, a in enumerate(pts):
            if cut_by_frame(a):
                continue
            unit = max(a.person_h or 4 * a.h, 1e-6)
            j = i
            while (j + 1 < len(pts) and not cut_by_frame(pts[j + 1])
                   and math.hypot((pts[j + 1].x - a.x) * self_aspect(a), pts[j + 1].y - a.y) <= self.still_speed * unit):
                j += 1
            if pts[j].t - a.t > best or math.isnan(best_start):
                best, best_start = pts[j].t - a.t, a.t
            if j == len(pts) - 1:
                break  # a later start cannot rest longer
        return best_start, best

    def lying(self, lying_aspect: float, lying_speed: float, max_size: float) -> tuple[list[TrackPoint], np.ndarray, float]:
        """The track's whole, person-sized points (boxes the frame edge does not cut, at most
        ``max_size`` person areas), which of them look like someone lying (wider than
        ``lying_aspect``, moving no faster than ``lying_speed`` body heights/s), and the seconds
        those add up to."""
        whole = [p for p in self.points if not cut_by_frame(p) and p.size <= max_size]
        wide = np.array([p.w / max(p.h, 1e-6) > lying_aspect and p.speed <= lying_speed for p in whole], bool)
        step = (whole[-1].t - whole[0].t) / max(len(whole) - 1, 1) if whole else 0.0
        return whole, wide, float(np.sum(wide)) * step

    def height_drop(self, fallen_height: float, lying_speed: float, max_size: float,
                    upto: int | None = None) -> tuple[float, float, float] | None:
        """A detected person's box shortened and staying so (a fall toward or away from the
        camera shortens the box without widening it): over the whole, person-sized points (the
        first ``upto`` of them), the height drops below ``fallen_height`` of the standing height
        (the upper quartile of the first third, at least 0.7 of a person's there) at no more than
        ``lying_speed`` body heights/s, most of the last quarter is down, the feet stay within half
        a body height, and the person was seen standing first. Returns the seconds down, when the
        drop began and the mean height down as a share of standing; ``None`` otherwise."""
        pts = [p for p in self.points if not cut_by_frame(p) and p.person_h > 0 and p.size <= max_size][:upto]
        if len(pts) < 6:
            return None
        rel = np.array([p.h / p.person_h for p in pts])
        standing = float(np.quantile(rel[: max(2, len(rel) // 3)], 0.75))
        if standing < 0.7:  # never seen standing whole
            return None
        down = (rel < fallen_height * standing) & np.array([p.speed <= lying_speed for p in pts])
        if not down.any() or down[-max(2, len(down) // 4):].mean() <= 0.5:
            return None
        first = int(np.argmax(down))
        lying = [p for p, d in zip(pts, down) if d]
        travel = math.hypot((lying[-1].x - lying[0].x) * lying[0].frame_aspect, lying[-1].y - lying[0].y) / lying[0].person_h
        if travel > 0.5 or first == 0:
            return None
        return lying[-1].t - lying[0].t, pts[first].t, float(rel[down].mean() / standing)

    def longest_height_drop(self, fallen_height: float, lying_speed: float, max_size: float) -> float:
        """The longest :meth:`height_drop` of the track as if the footage had ended at any of its
        points (0 if none): how long a normal person ever looked fallen this way."""
        pts = [p for p in self.points if not cut_by_frame(p) and p.person_h > 0 and p.size <= max_size]
        rel = np.array([p.h / p.person_h for p in pts])
        # a drop ends on a point that is down: only those ends are tried (the standing height is
        # at most the highest so far, which rules out most points at once)
        most = np.maximum.accumulate(rel) if len(rel) else rel
        ends = [k for k in range(6, len(pts) + 1) if pts[k - 1].speed <= lying_speed
                and rel[k - 1] < fallen_height * most[max(2, k // 3) - 1]
                and rel[k - 1] < fallen_height * float(np.quantile(rel[: max(2, k // 3)], 0.75))]
        drops = (self.height_drop(fallen_height, lying_speed, max_size, k) for k in ends)
        return max((d[0] for d in drops if d is not None), default=0.0)

    def vehicle_s(self, vehicle_size: float, zone: str | None = None) -> float:
        """Seconds the track was vehicle-sized (``vehicle_size`` person areas or more) and moving
        (faster than ``still_speed``), inside ``zone`` when given: the evidence of an unnamed
        vehicle, which people walking together match only while their blobs stay merged."""
        return float(sum(b.t - a.t for a, b in zip(self.points, self.points[1:])
                         if b.size >= vehicle_size and b.speed > self.still_speed and (zone is None or zone in b.zones)))

    def first_in(self, zone: str) -> float | None:
        """When the feet were first inside ``zone``."""
        return next((p.t for p in self.points if zone in p.zones), None)

    def jitter(self) -> float:
        """Median change of velocity between steps (body heights per second)."""
        if len(self.points) < 3:
            return 0.0
        v = []
        for a, b in zip(self.points, self.points[1:]):
            dt = max(b.t - a.t, 1e-6)
            scale = max(b.h, 1e-6)
            v.append(((b.x - a.x) / dt / scale * 0.5, (b.y - a.y) / dt / scale * 0.5))
        dv = np.linalg.norm(np.diff(np.array(v), axis=0), axis=1)
        return float(np.median(dv))

    def close_time(self, other: TrackFacts) -> tuple[float, float | None, float]:
        """Seconds this track and ``other`` spent within reach of each other (feet apart by
        under three quarters of the taller box's height across, half of it in depth, at the same
        moments), when that began, and how fast this one moved on meanwhile (net body heights
        per second from its first to its last close point)."""
        tb = {round(p.t, 3): p for p in other.points}
        close = 0.0
        prev_t: float | None = None
        since: float | None = None
        near = []
        for p in self.points:
            q = tb.get(round(p.t, 3))
            if q is not None and abs(p.x - q.x) < max(p.h, q.h) * 0.75 and abs(p.y - q.y) < max(p.h, q.h) * 0.5:
                if prev_t is not None:
                    close += p.t - prev_t
                since = since if since is not None else p.t
                prev_t = p.t
                near.append(p)
            else:
                prev_t = None
        drift = 0.0
        if len(near) >= 2 and near[-1].t > near[0].t:
            p0, p1 = near[0], near[-1]
            drift = math.hypot((p1.x - p0.x) * p0.frame_aspect, p1.y - p0.y) / (p1.t - p0.t) / max(p0.h, p1.h, 1e-6)
        return close, since, drift

    def scuffle_s(self, other: TrackFacts, fight_jitter: float, dwell_speed: float, both: bool = False) -> float:
        """Seconds two tracks stayed within reach of each other in one spot (moving on at no more
        than ``dwell_speed`` body heights/s) with one of them erratic (velocity changes of
        ``fight_jitter`` body heights/s or more), or both of them with ``both`` (detector boxes
        are steadier than blobs that merge and split; each must then be seen for 1.5 s and five
        looks to say so); 0 otherwise. A fight's evidence, which two people walking together
        (they move on) or standing together (they are steady) lack."""
        if both and (min(self.duration_s, other.duration_s) < 1.5 or min(len(self.points), len(other.points)) < 5):
            return 0.0
        jitters = (self.jitter(), other.jitter())
        if (min(jitters) if both else max(jitters)) < fight_jitter:
            return 0.0
        close, _since, drift = self.close_time(other)
        return close if drift <= dwell_speed else 0.0

    def describe(self) -> str:
        """One sentence about the track."""
        what = f"a {self.label}" if self.label and self.label != "unknown" else {
            "person": "a person", "large": "a large object (vehicle or group)", "small": "a small object"}[self.kind]
        p0, p1 = self.points[0], self.points[-1]
        moved = "stays in place" if self.speed_quantile(0.9) < self.still_speed else (
            f"moves at up to {self.speed_quantile(0.9):.1f} body heights/s")
        shape = ""
        aspects = self.aspects()
        if self.kind == "person" and aspects.size and aspects.max() > 1.3:
            shape = f", its outline turns wide (width/height up to {aspects.max():.1f})"
        zones = "".join(f", {s:.1f} s inside zone '{z}'" for z, s in self.zones.items() if s > 0)
        still = self.still_s()
        still_text = f", still for {still:.1f} s" if still >= 1.0 else ""
        return (
            f"track {self.track_id}: {what} from {p0.t:.1f} s to {p1.t:.1f} s, "
            f"from ({p0.x:.2f}, {p0.y:.2f}) to ({p1.x:.2f}, {p1.y:.2f}), {moved}{shape}{zones}"
            f"{still_text}."
        )


@dataclass
class SceneFacts:
    """Tracks seen in a stretch of video."""

    t0: float
    t1: float
    tracks: list[TrackFacts] = field(default_factory=list)
    detected: bool = False  # a detector named the objects (its tracks are among these)
    norms: TrackNorms | None = None  # the camera's normal tracks, for rule confidences
    blob_norms: BlobNorms | None = None  # the camera's normal blob tracks, for the blob rules' confidences

    def text(self, limit: int = 8) -> str:
        """Plain-language account, most relevant tracks first."""
        if not self.tracks:
            return f"Between {self.t0:.1f} s and {self.t1:.1f} s no moving or new object is visible."
        ranked = sorted(self.tracks, key=lambda tr: (-tr.duration_s, tr.track_id))[:limit]
        return f"Between {self.t0:.1f} s and {self.t1:.1f} s: " + " ".join(tr.describe() for tr in ranked)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no per-point paths)."""
        return {
            "t0": self.t0,
            "t1": self.t1,
            "tracks": [
                {
                    "track_id": tr.track_id, "kind": tr.kind, **({"label": tr.label} if tr.label else {}),
                    "first_t": round(tr.first_t, 2), "last_t": round(tr.last_t, 2),
                    "speed_p90": round(tr.speed_quantile(0.9), 2), "max_aspect": round(float(tr.aspects().max()), 2),
                    "size": round(tr.size(), 2), "still_s": round(tr.still_s(), 2),
                    "zones": {k: round(v, 2) for k, v in tr.zones.items()},
                    "start": [round(tr.points[0].x, 3), round(tr.points[0].y, 3)],
                    "end": [round(tr.points[-1].x, 3), round(tr.points[-1].y, 3)],
                }
                for tr in self.tracks
            ],
        }


def scene_facts(frames: Sequence[Frame], encoder: MotionEncoder, zones: Sequence[Zone] = (), fps: float = 8.0,
                still_speed: float = STILL_SPEED) -> SceneFacts:
    """Track the foreground blobs of ``frames`` and summarise each track.

    Args:
        frames: consecutive sampled frames (any size; analysed at the encoder's working size).
        encoder: a fitted motion encoder (its background and perspective are used).
        zones: camera zones; time inside each is recorded per track (feet point).
        fps: sampling rate of ``frames``.
        still_speed: body heights per second below which a track is still.
    """
    from supervision import Detections

    if not frames:
        return SceneFacts(0.0, 0.0)
    # the one tracker (perception.tracking), over every frame's blobs; a blob unseen for half a
    # second is another blob's (blobs merge and split as people pass), so its track ends
    tracker = ObjectTracker(fps, TrackerSettings(lost_s=0.5, activation=0.5, high_confidence=0.5, min_iou=0.05))
    tracks: dict[int, TrackFacts] = {}
    min_px = encoder.config.min_blob_px
    for frame in frames:
        work = encoder._work(frame.image)
        h, w = work.shape[:2]
        fg = encoder._foreground(work)
        n, _labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
        boxes, kinds, sizes = [], [], []
        for k in range(1, n):
            x, y, bw, bh, a = (int(v) for v in stats[k])
            if a < min_px:
                continue
            person = float(encoder.person_height(y + bh))
            size = a / (0.25 * person * person)
            boxes.append((x, y, x + bw, y + bh))
            kinds.append(_kind_code(size, bh / person, bw / person, encoder.config.group_size))
            sizes.append(size)
        if boxes:
            det = Detections(
                xyxy=np.array(boxes, float), confidence=np.ones(len(boxes)), class_id=np.array(kinds),
                data={"size": np.array(sizes)},
            )
        else:
            det = Detections.empty()
        out = tracker.follow(det)
        if len(out) == 0 or out.tracker_id is None:
            continue
        for i, tid in enumerate(out.tracker_id):
            if tid < 0:
                continue
            x1, y1, x2, y2 = (float(v) for v in out.xyxy[i])
            kind = ("person", "large", "small")[int(out.class_id[i])] if out.class_id is not None else "person"
            size = float(out.data["size"][i]) if "size" in out.data else 1.0
            point = TrackPoint(frame.t, (x1 + x2) / 2 / w, y2 / h, (x2 - x1) / w, (y2 - y1) / h, size, 0.0, w / h,
                               person_h=float(encoder.person_height(y2)) / h)
            track = tracks.setdefault(int(tid), TrackFacts(int(tid), kind, still_speed=still_speed))
            if track.points:
                prev = track.points[-1]
                dt = max(point.t - prev.t, 1e-6)
                person_h = float(encoder.person_height(point.y * h)) / h
                point.speed = math.hypot(point.x - prev.x, (point.y - prev.y) * h / w) * (w / h) / dt / max(person_h, 1e-6)
                for zone in zones:
                    if zone.contains(point.x, point.y):
                        track.zones[zone.name] = track.zones.get(zone.name, 0.0) + dt
            else:
                for zone in zones:
                    track.zones.setdefault(zone.name, 0.0)
            point.zones = tuple(z.name for z in zones if z.contains(point.x, point.y))
            track.points.append(point)
    for track in tracks.values():
        # the kind is what the track mostly was
        codes = [_kind_code(p.size, p.h * h / float(encoder.person_height(p.y * h)), p.w * w / float(encoder.person_height(p.y * h)),
                            encoder.config.group_size) for p in track.points]
        track.kind = ("person", "large", "small")[int(np.bincount(codes, minlength=3).argmax())]
    facts = SceneFacts(frames[0].t, frames[-1].t, [t for t in tracks.values() if len(t.points) >= 2])
    return facts


def points_by_time(tracks: list[TrackFacts]) -> dict[float, list[TrackPoint]]:
    """The tracks' points by their time (rounded to the millisecond), to look up what was where
    at the moment another track was seen."""
    out: dict[float, list[TrackPoint]] = {}
    for v in tracks:
        for q in v.points:
            out.setdefault(round(q.t, 3), []).append(q)
    return out


def part_of_vehicle(t: TrackFacts, vehicles: dict[float, list[TrackPoint]], most: float = 0.5) -> bool:
    """Whether a person-sized track is a piece of a vehicle: for at least ``most`` of its points,
    its box touches a large track's box seen at the same moment (``vehicles``: the large tracks'
    :func:`points_by_time`), widened by a quarter of the vehicle's height (a vehicle's blob
    splits, and a piece the size of a person, its roof or the strip of shadow under it, goes at
    the vehicle's pace)."""
    if not vehicles or not t.points:
        return False
    inside = 0
    for p in t.points:
        for q in vehicles.get(round(p.t, 3), ()):
            pad = 0.25 * q.h
            if (p.x - p.w / 2 <= q.x + q.w / 2 + pad and q.x - q.w / 2 - pad <= p.x + p.w / 2
                    and p.y - p.h <= q.y + pad and q.y - q.h - pad <= p.y):
                inside += 1
                break
    return inside >= most * len(t.points)


class NormalBlobs:
    """Collects the :class:`perception.norms.BlobNorms` of normal footage while it is read for
    fitting: :func:`scene_facts` over stretches of ``chunk_s`` seconds (events are judged over
    stretches of about that length), one row per blob track, measured with the camera's
    detection ``settings`` (:data:`perception.norms.BLOB_SETTINGS`), and how long each spent in
    the camera's restricted ``zones``. Frames are pushed one video after another
    (:meth:`end_video` after each); one stretch is held at a time."""

    def __init__(self, encoder: MotionEncoder, fps: float, settings: dict[str, float], chunk_s: float = 30.0,
                 zones: Sequence[Zone] = ()) -> None:
        self.encoder, self.fps, self.settings, self.chunk_s = encoder, fps, settings, chunk_s
        # restricted zones: how long each normal track spent inside them
        self.zones = [z for z in zones if z.kind == "restricted"]
        self._rows: list[list[float]] = []
        self._zone_s: list[list[float]] = []
        self._chunk: list[Frame] = []

    def push(self, frame: Frame) -> None:
        if self._chunk and frame.t - self._chunk[0].t >= self.chunk_s:
            self._take()
        self._chunk.append(frame)

    def end_video(self) -> None:
        if self._chunk:
            self._take()

    def norms(self) -> BlobNorms:
        self.end_video()
        return BlobNorms(np.array(self._rows, np.float32), self.settings,
                         np.array(self._zone_s, np.float32).reshape(len(self._rows), len(self.zones)),
                         [(z.name, [list(pt) for pt in z.polygon]) for z in self.zones])

    def _take(self) -> None:
        s = self.settings
        tracks = scene_facts(self._chunk, self.encoder, self.zones, fps=self.fps, still_speed=s["still_speed"]).tracks
        people = [t for t in tracks if t.kind == "person"]
        erratic = {id(t) for t in people if t.jitter() >= s["fight_jitter"]}

        def partners(t: TrackFacts) -> list[TrackFacts]:
            """Who ``t`` could have scuffled with: one of the two erratic, seen at the same time."""
            return [o for o in people if o is not t and (id(t) in erratic or id(o) in erratic)
                    and min(t.last_t, o.last_t) > max(t.first_t, o.first_t)]

        vehicles = points_by_time([t for t in tracks if t.kind == "large"])
        for t in tracks:
            self._zone_s.append([t.zones.get(z.name, 0.0) for z in self.zones])
            feet = np.median([(p.x, p.y) for p in t.points], axis=0)
            row = {"vehicle_s": t.vehicle_s(s["vehicle_size"]),
                   "rest_s": t.rest_stretch()[1] if t.kind == "small" else math.nan,
                   "lying_s": t.lying(s["lying_aspect"], s["lying_speed"], s["group_size"])[2] if t.kind == "person" else math.nan,
                   "scuffle_s": max((t.scuffle_s(o, s["fight_jitter"], s["dwell_speed"]) for o in partners(t)),
                                    default=0.0) if t.kind == "person" else math.nan,
                   "speed": (t.sustained_speed(0.75, max_size=s["group_size"])
                             if t.kind == "person" and t.duration_s >= RUN_MIN_S and not part_of_vehicle(t, vehicles)
                             else math.nan),
                   "x": float(feet[0]), "y": float(feet[1])}
            self._rows.append([row[name] for name in BLOB_FEATURES])
        self._chunk.clear()


def _kind_code(size: float, rel_h: float, rel_w: float, group_size: float = LARGE_BLOB) -> int:
    """0 person, 1 large (vehicle or group), 2 small object, from size and box relative to a person."""
    if size > group_size:
        return 1
    if rel_h < 0.5 and rel_w < 0.6 and size < 0.6:
        return 2
    return 0


@dataclass(frozen=True)
class DetectedObjects:
    """The object path's tracks over a stretch of video, copied while the footage is read (the
    tracker goes on updating its own), with what is needed to measure them."""

    tracks: tuple[Track, ...]
    classes: tuple[str, ...]
    scale: PersonScale
    frame_size: tuple[int, int]
    norms: TrackNorms | None = None

    @classmethod
    def snapshot(cls, tracks: Sequence[Track], classes: Sequence[str], scale: PersonScale,
                 frame_size: tuple[int, int], norms: TrackNorms | None = None) -> DetectedObjects:
        copies = tuple(Track(tr.track_id, deque(tr.observations, maxlen=tr.observations.maxlen), tr.first_t)
                       for tr in tracks)
        return cls(copies, tuple(classes), scale, frame_size, norms)


def object_facts(objects: DetectedObjects, zones: Sequence[Zone] = (), t0: float | None = None, t1: float | None = None,
                 still_speed: float = STILL_SPEED, min_points: int = 2) -> list[TrackFacts]:
    """The detector's tracks over ``[t0, t1]`` as :class:`TrackFacts` named by their class.

    Sizes are box areas in standing-person boxes (:data:`PERSON_BOX_WIDTH` of the height of a
    person standing there, from the camera's person scale); speeds divide by that height. A
    track's kind comes from its most likely class group: ``person``; ``wheeled`` is ``large``;
    ``carried`` is ``small``; any other by its size, as for blobs.
    """
    from perception.norms import track_row

    aspect = frame_aspect(objects.frame_size)
    out = []
    for tr in objects.tracks:
        obs = tr.between(t0, t1)
        if len(obs) < min_points:
            continue
        probs = tr.groups(t0, t1)
        group = GROUPS[int(np.argmax(probs))]
        label = tr.label(objects.classes)
        named = group_of(label) if label != "unknown" else "unknown"
        if named not in ("person", "unknown", group):
            # named something else on some looks (a rider is their bicycle): believed when that
            # group's probability lies beyond the camera's normal tracks' (or beats person's)
            p_named, p_person = float(probs[GROUPS.index(named)]), float(probs[GROUPS.index("person")])
            conf = objects.norms.confidence(f"p_{named}", p_named) if objects.norms else None
            if (conf is not None and conf >= 0.5) or (conf is None and p_named >= p_person):
                group = named
            elif group == "person":
                label = "person"
        facts = TrackFacts(tr.track_id, "person", still_speed=still_speed, label=label,
                           groups={g: round(float(p), 4) for g, p in zip(GROUPS, probs)},
                           stats=track_row(tr, objects.scale, aspect, t0, t1), since_t=tr.first_t)
        for zone in zones:
            facts.zones[zone.name] = 0.0
        for o in obs:
            fx, fy = o.feet
            person_h = float(objects.scale.height(fy))
            size = o.width * aspect * o.height / max(PERSON_BOX_WIDTH * person_h * person_h, 1e-9)
            point = TrackPoint(o.t, fx, fy, o.width, o.height, size, 0.0, aspect, person_h=person_h)
            point.zones = tuple(z.name for z in zones if z.contains(fx, fy))
            if facts.points:
                prev = facts.points[-1]
                dt = max(o.t - prev.t, 1e-6)
                point.speed = math.hypot((fx - prev.x) * aspect, fy - prev.y) / dt / max(person_h, 1e-6)
                for name in point.zones:
                    facts.zones[name] += dt
            facts.points.append(point)
        if group == "person":
            facts.kind = "person"
        elif group == "wheeled":
            facts.kind = "large"
        elif group == "carried":
            facts.kind = "small"
        else:
            p = facts.points[len(facts.points) // 2]
            facts.kind = ("person", "large", "small")[_kind_code(p.size, p.h / max(p.person_h, 1e-6),
                                                                  p.w * aspect / max(p.person_h, 1e-6))]
        out.append(facts)
    return out


def normal_track_evidence(videos: Sequence[tuple[Sequence[Track], tuple[int, int] | None]], classes: Sequence[str],
                          scale: PersonScale, fallen_height: float, lying_speed: float, group_size: float,
                          fight_jitter: float, dwell_speed: float) -> dict[str, np.ndarray]:
    """What the rules on named people measure, over every person track the detector names in
    normal footage (the tracks of each video with its frame size): ``drops``, the longest each
    looked fallen (:meth:`TrackFacts.longest_height_drop`), and ``scuffles``, the longest each
    stayed close to another in one spot, both erratic (:meth:`TrackFacts.scuffle_s`). The
    yardsticks of :class:`perception.norms.TrackNorms`."""
    drops: list[float] = []
    scuffles: list[float] = []
    for tracks, size in videos:
        objects = DetectedObjects.snapshot(tracks, classes, scale, size or (4, 3))
        people = [f for f in object_facts(objects) if f.kind == "person" and f.label not in ("", "unknown")]
        drops += [f.longest_height_drop(fallen_height, lying_speed, group_size) for f in people]
        # both must be erratic: the steady ones (most people) never scuffle
        erratic = [f for f in people if f.jitter() >= fight_jitter]
        scuffles += [0.0] * (len(people) - len(erratic))
        for f in erratic:  # only others seen at the same time can be close
            others = [g for g in erratic if g is not f and min(f.last_t, g.last_t) > max(f.first_t, g.first_t)]
            scuffles.append(max((f.scuffle_s(g, fight_jitter, dwell_speed, both=True) for g in others), default=0.0))
    return {"drops": np.array(drops, np.float32), "scuffles": np.array(scuffles, np.float32)}


def combine_facts(blobs: SceneFacts, named: list[TrackFacts], norms: TrackNorms | None = None,
                  near_s: float = 0.6, pad: float = 0.25) -> SceneFacts:
    """The named objects' facts plus the blob tracks none of them explains.

    A blob track is explained when at least half its feet points fall inside a named object's
    box (widened by ``pad`` of its size) seen within ``near_s`` seconds: it is that object, or
    its shadow, seen by the foreground instead.
    """
    if not named:
        return SceneFacts(blobs.t0, blobs.t1, blobs.tracks, detected=False, norms=norms)

    def inside(p: TrackPoint) -> bool:
        for tr in named:
            q = min(tr.points, key=lambda q: abs(q.t - p.t))
            if abs(q.t - p.t) > near_s:
                continue
            x1, x2 = q.x - q.w / 2 - pad * q.w, q.x + q.w / 2 + pad * q.w
            y1, y2 = q.y - q.h - pad * q.h, q.y + pad * q.h
            if x1 <= p.x <= x2 and y1 <= p.y <= y2:
                return True
        return False

    unexplained = [t for t in blobs.tracks if np.mean([inside(p) for p in t.points]) < 0.5]
    return SceneFacts(blobs.t0, blobs.t1, [*named, *unexplained], detected=True, norms=norms)
