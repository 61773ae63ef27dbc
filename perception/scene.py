"""Scene facts: who and what moved where during an event, from tracked foreground blobs.

Foreground blobs of the camera's motion model (background, perspective) are followed by the
one tracker (:class:`perception.tracking.ObjectTracker`: ByteTrack over ``supervision.Detections``). Each
track becomes a :class:`TrackFacts`: its path of feet points, size in person areas, shape,
speeds in body heights per second, time spent still, and seconds inside each configured zone.
:meth:`SceneFacts.text` renders them as plain sentences, which is what the agents read when no
vision-language model is configured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from perception.encoders.motion import LARGE_BLOB, MotionEncoder
from perception.tracking import ObjectTracker, TrackerSettings
from perception.video import Frame
from vigil.config import Zone

STILL_SPEED = 0.25  # body heights per second (default of detection.still_speed)


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

    def sustained_speed(self, q: float, baseline_s: float = 1.0) -> float:
        """A quantile of speeds measured over ``baseline_s`` rather than between frames.

        Box edges jitter when blobs split and merge; a one-second baseline averages that out.
        """
        pts = self.points
        if len(pts) < 2:
            return 0.0
        speeds = []
        j = 0
        for i, p in enumerate(pts):
            while j < i and p.t - pts[j + 1].t >= baseline_s:
                j += 1
            a = pts[j]
            dt = p.t - a.t
            if dt >= 0.75 * baseline_s:
                # the perspective model's person height, not the box's (boxes shrink when blobs split)
                scale = max(0.5 * (p.person_h + a.person_h), 1e-6) if p.person_h and a.person_h else max(0.5 * (p.h + a.h), 1e-6)
                speeds.append(math.hypot((p.x - a.x) * self_aspect(p), p.y - a.y) / dt / scale)
        return float(np.quantile(speeds, q)) if speeds else 0.0

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

    def describe(self) -> str:
        """One sentence about the track."""
        what = {"person": "a person", "large": "a large object (vehicle or group)", "small": "a small object"}[self.kind]
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
                    "track_id": tr.track_id, "kind": tr.kind, "first_t": round(tr.first_t, 2), "last_t": round(tr.last_t, 2),
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


def _kind_code(size: float, rel_h: float, rel_w: float, group_size: float = LARGE_BLOB) -> int:
    """0 person, 1 large (vehicle or group), 2 small object, from size and box relative to a person."""
    if size > group_size:
        return 1
    if rel_h < 0.5 and rel_w < 0.6 and size < 0.6:
        return 2
    return 0
