"""Track facts: what one tracked object did, measured in the terms the type rules speak.

A :class:`TrackFacts` is one track (a detector's named object or a foreground blob) as a path of
:class:`TrackPoint` feet points, with its size in person areas, shape, speeds in body heights per
second, time spent still and seconds inside each configured zone, and the measures the rules
and the camera's normal tracks compare (sustained speed, rest stretches, lying, scuffles,
vehicle time). :meth:`TrackFacts.describe` renders one as a plain sentence. How tracks are
gathered from a stretch of footage is :mod:`perception.track.scene`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from perception.track.tracking import cut_by_edge

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
    stats: np.ndarray | None = None  # its perception.track.norms.NORM_FEATURES row over the stretch (detector tracks)
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
