"""Zone rules in the score: time spent where the camera's own rules say nobody should be or stay.

A camera's ``restricted`` zones say nobody should enter, its ``loitering`` zones that nobody
should linger: anomalies by definition, whatever the normal footage showed (a keep-out area
scores low on its own when someone stands still in it, since standing still is ordinary
elsewhere). :class:`ZoneOccupancy` follows, from what the object path finds at each look (the
boxes of detections, foreground blobs, boxes the flow carries; tracks are not needed, since
people standing still break theirs), how long each such zone has been occupied without a break
(a gap of one missed look, or up to the tracker's ``lost_s``, is bridged):

- a restricted zone by anything whose feet are inside it (and that measures at least a quarter
  of a body height: smaller blobs are fragments, a shadow's edge or a limb);
- a loitering zone by someone lingering inside it: feet that stayed within ``dwell_speed``
  body heights per second of where some feet were a second before (a stream of people passing
  through keeps a zone occupied, but nobody in it lingers).

A window in which a restricted zone has been occupied for ``intrusion_s``, or a loitering zone
for ``loiter_s``, scores at least ``zone_score`` (:class:`~vigil.core.config.DetectionConfig`), its
region the occupant's box, so ``vigil score``, the stored timelines and the candidate events all
see what the type rules will name. In score files the floor covers the frames of the event the
rule opens: from when the occupancy began (the entry into the restricted zone; for a loitering
zone the start of the lingering, where the loitering event begins too) to the last moment
someone was seen there, a look standing for the time halfway to the looks around it, without
smoothing into the frames around them.

:class:`LeftObjects` puts the camera's abandoned-object rule in the score the same way: an
object lying unattended long enough that the type rule will name it raises its frames to
``zone_score`` too, from that moment on (what lies still for a while is mostly a piece of
someone standing by it, so the floor does not reach back to when it came to rest).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.track.tracking import PersonScale, cut_by_edge

#: the zone kinds whose occupancy is a rule, and the detection setting that says for how long
RULE_KINDS: dict[str, str] = {"restricted": "intrusion_s", "loitering": "loiter_s"}
#: seconds over which lingering is judged (feet compared with where feet were this long before)
LINGER_BASELINE_S = 1.0
#: body heights: what is smaller on its longer side is a fragment (a shadow's edge, a limb), not
#: someone in the zone (a person half hidden by something of the background's colour, or lying
#: down, still measures this much)
MIN_OCCUPANT = 0.25


@dataclass
class _Stretch:
    """One zone's current stretch of occupancy."""

    since: float | None = None  # when the stretch began (None: the zone is empty)
    last: float | None = None   # the latest look that saw it occupied


@dataclass(frozen=True)
class _Look:
    """One look of the object path, measured for the rules of this module."""

    t: float
    boxes: np.ndarray   # (K, 4) normalised xyxy
    feet: np.ndarray    # (K, 2) bottom centres
    person: np.ndarray  # (K,) a person's height at each feet point (normalised)
    longer: np.ndarray  # (K,) each box's longer side, in the frame's height units
    half: float         # half the time since the look before: the time this look stands for either side


def _new_looks(seen: Iterable[tuple[float, np.ndarray]], after: float | None, t1: float, scale: PersonScale,
               aspect: float) -> Iterator[_Look]:
    """The looks of ``seen`` (:attr:`~perception.track.objects.ObjectStage.seen`) after ``after`` (the
    last look taken before) up to ``t1``, in order."""
    previous = after
    for t, boxes in seen:
        if t > t1 + 1e-6 or (after is not None and t <= after + 1e-6):
            continue
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        feet = np.stack([0.5 * (boxes[:, 0] + boxes[:, 2]), boxes[:, 3]], axis=1)
        person = np.maximum(scale.height(feet[:, 1]), 1e-6) if len(feet) else np.zeros(0)
        longer = np.maximum((boxes[:, 2] - boxes[:, 0]) * aspect, boxes[:, 3] - boxes[:, 1])
        half = 0.5 * (t - previous) if previous is not None and t > previous else 0.0
        previous = t
        yield _Look(t, boxes, feet, person, longer, half)


@dataclass(frozen=True)
class ZoneHit:
    """A zone whose rule held in a window."""

    zone: Any
    start_s: float  # from when the rule held (may lie before the window)
    end_s: float    # the last moment the zone was seen occupied
    since_s: float  # when the occupancy began (the entry; for loitering, when the lingering began)
    box: tuple[float, float, float, float]  # the occupant's box then (normalised xyxy)


class ZoneOccupancy:
    """How long each rule zone has been occupied (see the module docstring).

    Args:
        zones: the camera's zones (anything with ``name``, ``kind`` and ``contains(x, y)``);
            ``restricted`` and ``loitering`` ones count.
        need_s: seconds of occupancy that break each kind's rule (``{"restricted": 1.0, ...}``).
        gap_s: a zone unseen for longer than this is empty again.
        scale: the camera's person heights (for lingering, in body heights).
        dwell_speed: body heights per second below which someone lingers.
    """

    def __init__(self, zones: Sequence[Any], need_s: dict[str, float], gap_s: float,
                 scale: PersonScale | None = None, dwell_speed: float = 0.35) -> None:
        self.zones = [z for z in zones if getattr(z, "kind", None) in RULE_KINDS]
        self.need_s = need_s
        self.gap_s = float(gap_s)
        self.scale = scale or PersonScale()
        self.dwell_speed = float(dwell_speed)
        self.reset()

    @classmethod
    def for_camera(cls, zones: Sequence[Any], detection: Any, scale: PersonScale | None = None) -> ZoneOccupancy | None:
        """The occupancy of a camera's rule zones (``None`` when it has none)."""
        need = {kind: float(getattr(detection, field)) for kind, field in RULE_KINDS.items()}
        # one look that misses everyone (two ordinary looks apart) does not empty a zone
        rate = detection.detector_fps if detection.detector_fps > 0 else detection.flagged_fps
        occ = cls(zones, need, max(detection.track_lost_s, 2.0 / rate) + 1e-3, scale, detection.dwell_speed)
        return occ if occ.zones else None

    def reset(self) -> None:
        """Start a new source."""
        self._stretches = [_Stretch() for _ in self.zones]
        self._look_t: float | None = None  # the last look taken in
        self._recent: deque[tuple[float, np.ndarray]] = deque()  # looks of the last two baselines (feet)

    def update(self, seen: Iterable[tuple[float, np.ndarray]], t0: float, t1: float, aspect: float = 1.0) -> list[ZoneHit]:
        """Take the looks up to ``t1`` not taken yet (``(time, (K, 4) normalised xyxy boxes)``,
        :attr:`~perception.track.objects.ObjectStage.seen`; ``aspect``: the frame's width over height);
        returns the zones whose rule held in the window ``[t0, t1]``.

        Looks come in as frames are read, which may be after the window that spans them is
        scored: what is not here yet is taken next time.
        """
        hits: dict[int, list[Any]] = {}
        # a look stands for the time halfway to its neighbours (the one before says how far)
        for look in _new_looks(seen, self._look_t, t1, self.scale, aspect):
            t, boxes, feet, person, half = look.t, look.boxes, look.feet, look.person, look.half
            self._look_t = t
            sized = look.longer >= MIN_OCCUPANT * person
            lingering = self._lingering(t, feet, person, aspect) if any(z.kind == "loitering" for z in self.zones) else None
            self._recent.append((t, feet))
            while self._recent and self._recent[0][0] < t - 2 * LINGER_BASELINE_S:
                self._recent.popleft()
            for k, zone in enumerate(self.zones):
                counts = sized & lingering if zone.kind == "loitering" else sized
                inside = [i for i in range(len(feet)) if counts[i] and zone.contains(float(feet[i, 0]), float(feet[i, 1]))]
                if not inside:
                    continue
                st = self._stretches[k]
                if st.last is None or t - st.last > self.gap_s:
                    st.since = t - half
                st.last = t
                need = self.need_s[zone.kind]
                if t >= t0 - 1e-6 and t - st.since >= need - 1e-6:
                    onset = st.since if zone.kind == "restricted" else st.since + need
                    box = tuple(float(v) for v in boxes[inside[0]])
                    hit = hits.setdefault(k, [onset, t + half, box, st.since])
                    hit[1], hit[2] = t + half, box
        for st in self._stretches:
            if st.last is not None and self._look_t is not None and self._look_t - st.last > self.gap_s:
                st.since = st.last = None
        return [ZoneHit(self.zones[k], start_s=a, end_s=b, since_s=since, box=box)
                for k, (a, b, box, since) in sorted(hits.items())]

    def _lingering(self, t: float, feet: np.ndarray, person: np.ndarray, aspect: float) -> np.ndarray:
        """Which feet (``person``: the body height at each) stayed within ``dwell_speed`` of some
        feet of the look about a second before."""
        earlier = [(tp, fp) for tp, fp in self._recent if t - tp >= 0.75 * LINGER_BASELINE_S]
        if not earlier or not len(feet):
            return np.zeros(len(feet), bool)
        tp, fp = earlier[-1]  # the latest look at least about a second before
        if not len(fp) or t - tp > 2 * LINGER_BASELINE_S:
            return np.zeros(len(feet), bool)
        dist = np.hypot((fp[None, :, 0] - feet[:, None, 0]) * aspect, fp[None, :, 1] - feet[:, None, 1])
        return dist.min(axis=1) / person <= self.dwell_speed * (t - tp)


#: body heights: what is smaller on its longer side may be an object someone carried (a bag, a
#: box); larger is someone, or something no one carries
CARRIED_MAX = 0.5


@dataclass
class _Spot:
    """Where a small object lies still."""

    x: float      # feet, normalised
    y: float
    unit: float   # a person's height there (normalised)
    since: float  # first seen lying here
    last: float   # last seen here
    box: tuple[float, float, float, float]


class LeftObjects:
    """Objects left lying: the camera's ``abandoned_s`` rule in the score, as :class:`ZoneOccupancy`
    puts the zone rules there.

    From the same looks (:attr:`~perception.track.objects.ObjectStage.seen`), a box smaller than
    ``CARRIED_MAX`` body heights that stays within ``still_speed`` x 1 s body heights of where it
    was first seen (the type rules' "at rest", :meth:`perception.track.track_facts.TrackFacts.rest_stretch`)
    is a spot where something lies; unseen for ``gap_s`` (people walking past hide it), the spot
    is forgotten. A spot lain on for ``need_s`` with nobody beside it at the look (a limb or a
    shadow of someone standing there lies still as long as they do) holds the rule from
    ``since + need_s`` on. Boxes the frame edge cuts are never at rest (what shows may be part of
    something larger). ``need_s`` is ``abandoned_s``, or, where the profile measured how long the
    camera's normal small blobs lie still (:class:`~perception.track.norms.BlobNorms`), the rest at
    which the type rule's confidence, calibrated on them, reaches the camera's
    ``confidence_threshold`` (see :meth:`for_camera`).
    """

    def __init__(self, need_s: float, gap_s: float, scale: PersonScale | None = None, still_speed: float = 0.25) -> None:
        self.need_s = float(need_s)
        self.gap_s = float(gap_s)
        self.scale = scale or PersonScale()
        self.still_speed = float(still_speed)
        self.reset()

    @classmethod
    def for_camera(cls, detection: Any, scale: PersonScale | None = None, blob_norms: Any = None,
                   sure: float = 0.8) -> LeftObjects:
        """The rule with the camera's settings (``abandoned_s``, ``still_speed``) and, when the
        profile has them measured with the same ``still_speed``, its normal small blobs' rest
        times: the rule holds from the rest the type rule's confidence reaches ``sure`` at (the
        camera's ``confidence_threshold``), so what raises the score is what the rule will name."""
        need = float(detection.abandoned_s)
        cal = (blob_norms.calibration("rest_s", least=need, settings={"still_speed": detection.still_speed})
               if blob_norms is not None else None)
        return cls(cal.inverse(sure) if cal is not None else need, need, scale, detection.still_speed)

    def reset(self) -> None:
        """Start a new source."""
        self._spots: list[_Spot] = []
        self._look_t: float | None = None

    def update(self, seen: Iterable[tuple[float, np.ndarray]], t0: float, t1: float, aspect: float = 1.0) -> list[ZoneHit]:
        """Take the looks up to ``t1`` not taken yet (as :meth:`ZoneOccupancy.update`); returns
        one hit per spot whose rule held in the window ``[t0, t1]`` (``zone`` is ``None``)."""
        hits: dict[int, list[Any]] = {}
        for look in _new_looks(seen, self._look_t, t1, self.scale, aspect):
            t, boxes, feet, person, longer, half = look.t, look.boxes, look.feet, look.person, look.longer, look.half
            self._look_t = t
            cut = cut_by_edge(boxes[:, 0], boxes[:, 1], boxes[:, 2])
            small = (longer < CARRIED_MAX * person) & ~cut
            big = longer >= CARRIED_MAX * person
            for i in np.flatnonzero(small):
                x, y, unit = float(feet[i, 0]), float(feet[i, 1]), float(person[i])
                spot = next((s for s in self._spots if math.hypot((x - s.x) * aspect, y - s.y) <= self.still_speed * s.unit), None)
                if spot is None:
                    self._spots.append(_Spot(x, y, unit, t - half, t, tuple(float(v) for v in boxes[i])))
                else:
                    spot.last, spot.box = t, tuple(float(v) for v in boxes[i])
            self._spots = [s for s in self._spots if t - s.last <= self.gap_s]
            for s in self._spots:
                near = [j for j in np.flatnonzero(big) if abs(feet[j, 0] - s.x) * aspect < 0.6 * s.unit
                        and -1.0 * s.unit < s.y - feet[j, 1] < 0.6 * s.unit]
                if near:
                    continue
                if s.last == t and t >= t0 - 1e-6 and t - s.since >= self.need_s - 1e-6:
                    hit = hits.setdefault(id(s), [s.since + self.need_s, t + half, s.box])
                    hit[1], hit[2] = t + half, s.box
        # the floor and the event begin where the rule holds, not where the object came to rest:
        # what lies still for a while is mostly a piece of someone standing by it
        return [ZoneHit(None, start_s=a, end_s=b, since_s=a, box=box) for a, b, box in hits.values()]
