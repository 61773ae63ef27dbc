"""Scene facts: who and what moved where during an event, from the detector's tracks and tracked foreground blobs.

Two sources, one form. The object path's tracks (:class:`DetectedObjects`, a copy taken while
the footage is read) carry the detector's class names: :func:`object_facts` turns each into a
:class:`TrackFacts` with its ``label`` (``bicycle``, ``person``) and class-group probabilities.
Foreground blobs of the camera's motion model (background, perspective), followed by the same
tracker (:class:`perception.track.tracking.ObjectTracker`: ByteTrack over ``supervision.Detections``),
cover what no detector names (:func:`scene_facts`); :func:`combine_facts` keeps the blob tracks
that no named object explains. Each :class:`TrackFacts` has its path of feet points, size in
person areas, shape, speeds in body heights per second, time spent still, and seconds inside
each configured zone. :meth:`SceneFacts.text` renders them as plain sentences, which is what the
agents read when no vision-language model is configured.

:class:`TrackFacts`, :class:`TrackPoint` and the measures on them are in
:mod:`perception.track.track_facts` (imported here too, as the agents and tests have them).
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
from perception.source.video import Frame
from perception.track.norms import BLOB_FEATURES, BlobNorms, TrackNorms
from perception.track.track_facts import (
    PERSON_BOX_WIDTH,
    RUN_MIN_S,
    STILL_SPEED,
    TrackFacts,
    TrackPoint,
    part_of_vehicle,
    points_by_time,
)
from perception.track.tracking import (
    ObjectTracker,
    PersonScale,
    Track,
    TrackerSettings,
    frame_aspect,
)
from vigil.core.config import Zone


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
    # the one tracker (perception.track.tracking), over every frame's blobs; a blob unseen for half a
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


class NormalBlobs:
    """Collects the :class:`perception.track.norms.BlobNorms` of normal footage while it is read for
    fitting: :func:`scene_facts` over stretches of ``chunk_s`` seconds (events are judged over
    stretches of about that length), one row per blob track, measured with the camera's
    detection ``settings`` (:data:`perception.track.norms.BLOB_SETTINGS`), and how long each spent in
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
    from perception.track.norms import track_row

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
    yardsticks of :class:`perception.track.norms.TrackNorms`."""
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
