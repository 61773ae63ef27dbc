"""Rules that name an anomaly, each with its evidence and the moment it began.

Every rule looks at the tracks of the event's stretch of video (scene facts: the detector's
named objects and the foreground blobs none of them explains), the camera's zones, and what the
cell scorer measured at the unusual cell, and either stays silent or returns a
:class:`TypeEvidence` with a confidence, a sentence saying why, and when the condition started
(the alert's onset). The Analyst's ``classify`` tool combines them with the type head; the
rule policy uses them as its whole judgement.

Where the scene facts carry the camera's normal tracks (:class:`perception.track.norms.TrackNorms`),
the rules on named objects take their confidence from them: a vehicle's from how far its wheeled
probability lies beyond the normal tracks in that zone, a runner's from how far their speed lies
beyond the normal people's, a stay's from how long the normal people stay (without loitering
zones, a person in view far longer than that is loitering); the same scale on every camera (0.5 at the estimated 99.9th
percentile of normal tracks). An unnamed vehicle-sized blob is measured the same way against
the camera's normal blob tracks (:class:`perception.track.norms.BlobNorms`: how long people walking
together stay merged into one blob that large), with ``vehicle_s`` as the least 99.9th
percentile, and so are a small object left behind (how long the normal small blobs lie at rest;
``object_s`` the least) and a blob seen upright, then lying (how long the normal person-sized
blobs look wide and still; ``lying_s`` the least), and a running blob (how fast the normal
person-sized blobs keep going, measured as the rule measures it; no least, as for named
people: ``run_speed`` says what running is). An intrusion is measured against how long
the normal movers' feet were inside that restricted zone (``intrusion_s`` the least), and a
detected person whose box drops short and stays so against the longest the normal people the
detector names ever looked that short (``lying_s`` the least). A fight between two tracks is
measured against how long the camera's normal people stayed close to another in one spot,
erratic (the normal person-sized blobs for blob tracks, one of them erratic; the normal people
the detector names for named ones, both erratic; no least: where they never do, any such
stretch is unusual). Fights seen only in the unusual cell's measures or in one jittering blob
of about two people, blobs first seen already lying, and the hints without a track (a cell's
speed, a large blob where none go) keep fixed confidences.

=================  ==========================================================================
running            a person moving at more than ``run_speed`` body heights per second (over one-second
                   baselines, only while the track is one person's size), confirmed by the unusual
                   cell's speed or by keeping the pace for ``RUN_KEPT_S``; not a piece of a
                   vehicle's blob travelling with it
falling            a person whose outline turns wide (lying), or whose detected box drops below
                   ``fallen_height`` of their standing height with the feet in one spot, and stays down
fighting           two people staying within reach of each other in one spot and moving erratically
                   (both of them, when the detector follows them; from the unusual cell's blob
                   measures only where some blob stayed in one spot there)
loitering          a person staying slow inside a loitering zone (or at one spot) for long
intrusion          a person's feet inside a restricted zone
vehicle            a wheeled object the detector names (bicycle, skateboard, car) moving inside a
                   pedestrian zone, or an unnamed vehicle-sized mover there (or where none ever go)
abandoned_object   a small object that comes to rest (stays on one spot, across breaks in its blob)
                   while the person who brought it leaves
=================  ==========================================================================

Behaviour rules (running, falling, fighting) only consider tracks crossing the region where
the detector saw the anomaly; zone rules look everywhere, since the zones say where to look.
Where several objects give one type, the strongest evidence speaks for it and the event began
with the first whose evidence is unusual in itself (``SURE``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from agents.rule_inputs import CellSignals, RuleSettings, TypeEvidence
from perception.track.norms import NORM_FEATURES
from perception.track.scene import (
    RUN_MIN_S,
    SceneFacts,
    TrackFacts,
    part_of_vehicle,
    points_by_time,
)
from vigil.core.config import Zone

#: seconds a track must keep a running pace (measured over one-second baselines) to count as a
#: runner on its own, without the unusual cell's speed agreeing
RUN_KEPT_S = 2.0
#: a rule confidence from which evidence is unusual in itself: calibrated confidences reach it at
#: the camera's 99.9th percentile of normal (see perception.track.norms.TailCalibration)
SURE = 0.5

__all__ = ["RUN_KEPT_S", "SURE", "CellSignals", "RuleSettings", "TypeEvidence", "classify_scene", "ordinary_traffic"]


def classify_scene(
    facts: SceneFacts,
    zones: Sequence[Zone] = (),
    settings: RuleSettings | None = None,
    region: tuple[float, float, float, float] | None = None,
    cells: CellSignals | None = None,
    reach: tuple[float, float, float, float] | None = None,
) -> list[TypeEvidence]:
    """All rules that fire, strongest first (one per type).

    Args:
        facts: tracks of the event's stretch of video.
        zones: the camera's zones.
        settings: rule thresholds.
        region: where the detector found the event (normalised box).
        cells: the detector's measurements at the unusual cell, when the encoder has named
            features (the motion encoder does).
        reach: where any window of the event was unusual (normalised box; default: ``region``),
            for rules about people who cross the scene (running).
    """
    s = settings or RuleSettings()
    c = cells or CellSignals()
    people = [t for t in facts.tracks if t.kind == "person"]
    large = [t for t in facts.tracks if t.kind == "large"]
    small = [t for t in facts.tracks if t.kind == "small"]

    def share_in_region(track: TrackFacts) -> float:
        return 1.0 if region is None else _share_in(track, region)

    local = [t for t in people if share_in_region(t) > 0.0]
    # a runner crosses the scene: one the scorer found unusual in any window of the event counts,
    # even when something else (a passing car) was stranger at the peak
    reached = local if reach is None else [t for t in people if share_in_region(t) > 0.0 or _share_in(t, reach) > 0.0]
    found: list[TypeEvidence] = []
    found += _intrusion(people, zones, s, facts)
    found += _vehicle(large, zones, s, c, region, facts)
    found += _falling(local, s, share_in_region, facts)
    found += _abandoned(small, people, s, share_in_region, facts)
    found += _loitering(people, zones, s, c, region, facts)
    vehicles = points_by_time(large)
    found += _running([t for t in reached if not part_of_vehicle(t, vehicles)], s, c, cells is not None, share_in_region, facts)
    # a car driving past where cars belong makes the unusual cell's blob measures its own
    traffic = ordinary_traffic(facts, zones, region, facts.t0, facts.t1) if region is not None else None
    found += _fighting(local, s, c, facts.detected, traffic is not None, facts)
    best: dict[str, TypeEvidence] = {}
    for e in found:
        if e.event_type not in best or e.confidence > best[e.event_type].confidence:
            best[e.event_type] = e
    for kind, e in best.items():
        # several objects of one type (cyclists one after another): it began with the first
        # whose evidence is itself unusual (beyond the camera's 99.9th percentile, where calibrated)
        starts = [f.start_s for f in found if f.event_type == kind and f.start_s is not None
                  and f.confidence >= min(SURE, e.confidence)]
        if starts and (e.start_s is None or min(starts) < e.start_s):
            best[kind] = replace(e, start_s=min(starts))
    return sorted(best.values(), key=lambda e: -e.confidence)


def _share_in(track: TrackFacts, box: tuple[float, float, float, float], pad: float = 0.08) -> float:
    """Share of a track's feet points inside ``box`` widened by ``pad``."""
    x1, y1, x2, y2 = box
    return float(np.mean([x1 - pad <= p.x <= x2 + pad and y1 - pad <= p.y <= y2 + pad for p in track.points]))


def ordinary_traffic(facts: SceneFacts, zones: Sequence[Zone], box: tuple[float, float, float, float],
                     t0: float, t1: float, pad: float = 0.08) -> str | None:
    """A vehicle driving where vehicles belong (outside every pedestrian zone) at ``box`` between ``t0`` and ``t1``.

    Passing traffic makes wide blobs that merge and split with people behind it; when such a
    vehicle is all there is at the unusual cell, an anomaly with no nameable type is most likely
    that. Returns a sentence saying so, or ``None`` (also when the camera has no pedestrian zones,
    so there is no telling where vehicles belong).
    """
    ped = [z for z in zones if z.kind == "pedestrian"]
    if not ped:
        return None
    x1, y1, x2, y2 = box
    for t in facts.tracks:
        if t.kind != "large" or t.speed_quantile(0.5) <= 0.1 or any(t.zones.get(z.name, 0.0) > 0.0 for z in ped):
            continue
        if any(t0 - 1.0 <= p.t <= t1 + 1.0 and x1 - pad <= p.x <= x2 + pad and y1 - pad <= p.y <= y2 + pad for p in t.points):
            return (f"a vehicle ({t.size():.1f} person areas) drove past outside the pedestrian zones, where "
                    "vehicles belong")
    return None


def _intrusion(people: list[TrackFacts], zones: Sequence[Zone], s: RuleSettings, facts: SceneFacts) -> list[TypeEvidence]:
    """Someone inside a restricted zone for ``intrusion_s``. Confidence: how far the stay lies
    beyond how long the camera's normal movers' feet were inside that zone
    (:meth:`perception.track.norms.BlobNorms.zone_calibration`; on most cameras nobody is ever
    there, and any stay is far beyond); a fixed one for zones drawn after fitting."""
    out = []
    for zone in (z for z in zones if z.kind == "restricted"):
        cal = facts.blob_norms.zone_calibration(zone, least=s.intrusion_s) if facts.blob_norms is not None else None
        for t in people:
            inside = t.zones.get(zone.name, 0.0)
            if inside >= s.intrusion_s:
                conf, versus = min(0.97, 0.8 + 0.05 * inside), ""
                if cal is not None:
                    conf = cal(inside)
                    versus = f" (99.9% of the camera's normal movers spend under {cal.high:.1f} s there)"
                out.append(TypeEvidence("intrusion", conf,
                                        f"a person stood inside restricted zone '{zone.name}' for {inside:.1f} s{versus}",
                                        t.track_id, t.first_in(zone.name)))
    return out


def _vehicle(large: list[TrackFacts], zones: Sequence[Zone], s: RuleSettings, c: CellSignals,
             region: tuple[float, float, float, float] | None, facts: SceneFacts) -> list[TypeEvidence]:
    out = []
    ped = [z for z in zones if z.kind == "pedestrian"]
    for t in large:
        if t.label and t.label != "unknown":
            out += _named_vehicle(t, ped, s, facts)
            continue
        moving = t.speed_quantile(0.5) > 0.1
        # a large mover no detector names (a cart, a car it cannot see whole)
        what = "an unidentified vehicle (a large object the detector cannot name, " if facts.detected else "a vehicle-sized object ("
        if ped:
            zone = max(ped, key=lambda z: t.zones.get(z.name, 0.0))
            inside = t.zones.get(zone.name, 0.0)
            if inside >= s.vehicle_s and moving:
                if t.size() >= s.vehicle_size:
                    conf, text = min(0.97, 0.8 + 0.03 * inside), f"{what}{t.size():.1f} person areas)"
                else:  # as big as two or three people walking together: not enough to call it a vehicle
                    conf, text = 0.65, f"a large object ({t.size():.1f} person areas: a small vehicle or people walking together)"
                text = f"{text} moved {inside:.1f} s inside pedestrian zone '{zone.name}'"
                cal = _blob_calibration(facts, "vehicle_s", zone, s.vehicle_s, vehicle_size=s.vehicle_size,
                                        still_speed=t.still_speed)
                if cal is not None:
                    big = t.vehicle_s(s.vehicle_size, zone.name)
                    conf = cal(big)
                    text += (f", vehicle-sized and moving for {big:.1f} s of it (over {cal.high:.1f} s is unusual here: "
                             "people walking together merge into one blob that large for less)")
                out.append(TypeEvidence("vehicle", conf, text, t.track_id, t.first_in(zone.name)))
        elif moving and t.duration_s >= s.vehicle_s:
            out.append(TypeEvidence("vehicle", 0.6, f"{what}{t.size():.1f} person areas) moved "
                                    "through the scene", t.track_id, t.first_t))
    # without pedestrian zones, the detector's own sense of where large things never go
    if not ped and c.large_rarity >= 0.8 and c.size >= 4.0:
        out.append(TypeEvidence("vehicle", 0.85, f"a vehicle-sized blob ({c.size:.1f} person areas) where vehicles "
                                "never go", None, c.first_t))
    return out


def _blob_calibration(facts: SceneFacts, stat: str, zone: Zone | None, least: float, **settings: float) -> Any:
    """The camera's normal blob tracks' :class:`~perception.track.norms.TailCalibration` of ``stat`` (in
    ``zone``), its 99.9th percentile at least ``least`` (the rule's configured minimum), or ``None``
    without them or when they were measured with other ``settings`` than the rule's."""
    norms = facts.blob_norms
    return None if norms is None else norms.calibration(stat, zone=zone, least=least, settings=settings)


def _named_vehicle(t: TrackFacts, ped: Sequence[Zone], s: RuleSettings, facts: SceneFacts) -> list[TypeEvidence]:
    """A wheeled object the detector names (bicycle, skateboard, car) moving inside a pedestrian zone.

    Confidence: how far its wheeled probability lies beyond the camera's normal tracks in that
    zone (:meth:`perception.track.norms.TrackNorms.confidence`); without enough normal tracks, from
    the time spent inside as for unnamed vehicles.
    """
    speed = t.sustained_speed(0.5)
    if not ped or speed <= 0.1:
        return []
    zone = max(ped, key=lambda z: t.zones.get(z.name, 0.0))
    inside = t.zones.get(zone.name, 0.0)
    if inside < s.vehicle_s:
        return []
    p = t.groups.get("wheeled", 0.0)
    cal = facts.norms.calibration("p_wheeled", zone=zone) if facts.norms else None
    if cal is None:
        conf, versus = min(0.97, 0.8 + 0.03 * inside), ""
    else:
        conf, versus = cal(p), f", where 99.9% of the camera's normal objects stay below {cal.high:.2f}"
    return [TypeEvidence("vehicle", conf, f"a {t.label} moved through pedestrian zone '{zone.name}' at {speed:.1f} body "
                         f"heights/s for {inside:.1f} s (wheeled probability {p:.2f}{versus})", t.track_id,
                         t.first_in(zone.name))]


def _falling(local: list[TrackFacts], s: RuleSettings, share: Any, facts: SceneFacts) -> list[TypeEvidence]:
    out = []
    # how long the camera's normal person-sized blobs look wide and still (two people walking side by side)
    cal = _blob_calibration(facts, "lying_s", None, s.lying_s, lying_aspect=s.lying_aspect,
                            lying_speed=s.lying_speed, group_size=s.group_size)
    for t in local:
        # a car half out of frame, or one that a person's track switched to, also looks wide:
        # only whole, person-sized boxes count, and a lying person does not travel
        whole, wide, wide_s = t.lying(s.lying_aspect, s.lying_speed, s.group_size)
        aspects = np.array([p.w / max(p.h, 1e-6) for p in whole])
        if aspects.size < 3:
            continue
        if wide_s < s.lying_s or wide[-max(2, len(wide) // 4):].mean() <= 0.5:
            continue
        first_wide = int(np.argmax(wide))
        upright_before = bool(np.any(aspects[: max(1, first_wide)] < 0.9))
        conf = (0.9 if upright_before else 0.75) + 0.05 * share(t)
        if upright_before and cal is not None and not t.label:  # a blob: as sure as its time down is unusual here
            conf = cal(wide_s)
        # seen upright, then down: the fall happened just before the first wide outline (it takes
        # a moment); a track that begins with the person already down does not say when
        onset = whole[first_wide].t - 0.5 if upright_before else None
        out.append(TypeEvidence("falling", conf, f"a person's outline turned wide (width/height {aspects.max():.1f}) "
                                f"and stayed down for {wide_s:.1f} s", t.track_id, onset))
    # a fall toward or away from the camera shortens the box without widening it; detector boxes
    # (not blobs, which shrink whenever they split) show it as the height dropping with the feet staying put
    out += [e for t in local if t.label for e in [_shortened(t, s, facts)] if e is not None]
    return out


def _shortened(t: TrackFacts, s: RuleSettings, facts: SceneFacts) -> TypeEvidence | None:
    """A person whose box height drops below ``fallen_height`` of their height when standing and
    stays down for ``lying_s`` with the feet in one spot (:meth:`TrackFacts.height_drop`).

    Confidence: how far the time down lies beyond the longest the camera's normal people looked
    that way (:meth:`perception.track.norms.TrackNorms.drop_calibration`: crowds hide people below the
    knees for a moment); 0.85 without them."""
    drop = t.height_drop(s.fallen_height, s.lying_speed, s.group_size)
    if drop is None or drop[0] < s.lying_s:
        return None
    down_s, began, share = drop
    cal = facts.norms.drop_calibration(fallen_height=s.fallen_height, lying_speed=s.lying_speed,
                                       group_size=s.group_size, least=s.lying_s) if facts.norms is not None else None
    conf, versus = 0.85, ""
    if cal is not None:
        conf = cal(down_s)
        versus = f" (99.9% of the camera's normal people look that short for under {cal.high:.1f} s)"
    return TypeEvidence("falling", conf, f"a {t.label}'s height dropped to {share:.0%} of their standing height "
                        f"and stayed down for {down_s:.1f} s with the feet in one spot{versus}", t.track_id, began - 0.5)


def _abandoned(small: list[TrackFacts], people: list[TrackFacts], s: RuleSettings, share: Any,
               facts: SceneFacts) -> list[TypeEvidence]:
    out = []
    # how long pieces of people (a shadow, a limb) and other small blobs lie still on this camera
    speeds = {t.still_speed for t in small}
    cal = _blob_calibration(facts, "rest_s", None, s.object_s, still_speed=speeds.pop()) if len(speeds) == 1 else None
    versus = f" (over {cal.high:.1f} s at rest is unusual for a small blob here)" if cal is not None else ""
    rests = [t.rest_stretch() for t in small]
    for t, (rest_t, still) in zip(small, rests):
        last = t.points[-1]
        x, y = last.x, last.y
        unit = last.person_h or 4 * last.h  # a person's height here
        if rest_t + still >= last.t - 1e-6:  # resting when last seen: the same object lost a moment, seen again here
            rest_t = _rested_since(t, rest_t, small, rests, s.object_s)
            still = last.t - rest_t
        if still < s.object_s:
            continue

        def beside(q: Any, reach: float, x: float = x, y: float = y, unit: float = unit) -> bool:
            return abs(q.x - x) < reach * unit and -1.0 * unit < y - q.y < 0.6 * unit

        # not a piece of someone standing (or lying) there now: a shadow, a limb
        if any(beside(p.points[-1], 0.6) for p in people if p.last_t >= last.t - 0.5):
            continue
        # the person who brought it: beside it around the time it came to rest, gone since
        owners = [p for p in people if any(beside(q, 1.5) and abs(q.t - rest_t) <= 3.0 for q in p.points)]
        if owners:
            # the object is seen apart only once its owner has stepped away; it was put down
            # while the owner stood by it, so the middle of that stay is the better onset
            near = [q.t for p in owners for q in p.points if beside(q, 1.0) and rest_t - 8.0 <= q.t <= rest_t + 1.0]
            put_down = min(rest_t, 0.5 * (min(near) + max(near))) if near else rest_t
            out.append(TypeEvidence("abandoned_object", cal(still) if cal is not None else 0.85 + 0.05 * share(t),
                                    f"a small object was left at ({x:.2f}, {y:.2f}) by a person who walked away; "
                                    f"it has stayed for {still:.1f} s{versus}", t.track_id, put_down))
        elif still >= s.object_s + 2.0:
            out.append(TypeEvidence("abandoned_object", cal(still) if cal is not None else 0.82,
                                    f"a small object has lain unattended at ({x:.2f}, {y:.2f}) for {still:.1f} s{versus}",
                                    t.track_id, rest_t))
    return out


def _rested_since(t: TrackFacts, rest_t: float, small: list[TrackFacts], rests: list[tuple[float, float]],
                  gap_s: float) -> float:
    """When the object ``t`` (resting since ``rest_t`` until its last point) came to rest, counting
    the earlier tracks of small objects that rested on the same spot until at most ``gap_s``
    before (the blob of an object on the ground breaks while people pass in front of it);
    ``rests``: each small track's :meth:`~perception.track.scene.TrackFacts.rest_stretch`."""
    last = t.points[-1]
    unit = max(last.person_h or 4 * last.h, 1e-6)
    changed = True
    while changed:
        changed = False
        for u, (u_rest, u_still) in zip(small, rests):
            if u is t or not rest_t - gap_s <= u.last_t <= rest_t:
                continue
            q = u.points[-1]
            if (u_rest + u_still >= u.last_t - 1e-6 and u_rest < rest_t
                    and math.hypot((q.x - last.x) * q.frame_aspect, q.y - last.y) <= t.still_speed * unit):
                rest_t, changed = u_rest, True
    return rest_t


def _loitering(people: list[TrackFacts], zones: Sequence[Zone], s: RuleSettings, c: CellSignals,
               region: tuple[float, float, float, float] | None, facts: SceneFacts) -> list[TypeEvidence]:
    out = []
    loiter = [z for z in zones if z.kind == "loitering"]
    # with the detector's people and the camera's normal tracks, a dwell is measured against how
    # long the camera's normal people stay (there, for a zone)
    norms = facts.norms if facts.detected else None
    for zone in loiter:
        # tracks break up when people stand still; the zone's occupancy by slow people does not
        start, length = _occupied(people, zone.name)
        if length >= s.loiter_s:
            conf = norms.confidence("duration_s", length, group="person", zone=zone) if norms else None
            out.append(TypeEvidence("loitering", min(0.95, 0.78 + 0.01 * length) if conf is None else conf,
                                    f"someone lingered {length:.1f} s in loitering zone '{zone.name}' at walking pace "
                                    "or slower", None, start))
    if not loiter:
        for t in people:
            if t.label and t.since_t is not None and norms is not None and t.last_t - t.since_t >= s.loiter_s:
                stayed = t.last_t - t.since_t
                cal = norms.calibration("duration_s", group="person")
                if cal is not None:
                    out.append(TypeEvidence("loitering", cal(stayed), f"a person has stayed in view for {stayed:.0f} s "
                                            f"(99.9% of the camera's normal people stay under {cal.high:.0f} s)",
                                            t.track_id, t.since_t))
                    continue
            if t.speed_quantile(0.5) < 0.5 and t.duration_s >= 2 * s.loiter_s:
                span = np.ptp([p.x for p in t.points]) + np.ptp([p.y for p in t.points])
                if span < 0.25:
                    out.append(TypeEvidence("loitering", 0.7, f"a person stayed around one spot for {t.duration_s:.1f} s",
                                            t.track_id, t.first_t))
    if loiter and region is not None and c.dwell >= 0.45 and c.size < 1.3 and c.speed < 0.5:
        x1, y1, x2, y2 = region
        cx = (x1 + x2) / 2
        zone = next((z for z in loiter if z.contains(cx, y2) or z.contains(cx, (y1 + y2) / 2)), None)
        if zone is not None:
            out.append(TypeEvidence("loitering", 0.78, f"someone has stayed slow in loitering zone '{zone.name}' for a "
                                    "long time", None, c.first_t))
    return out


def _occupied(people: list[TrackFacts], zone: str, gap_s: float = 1.0, entry_s: float = 10.0) -> tuple[float | None, float]:
    """Start and length of the longest stretch with a slow person's feet in ``zone`` (gaps under ``gap_s`` bridged).

    The start goes back to when the person who began the stretch walked into the zone (at most
    ``entry_s`` earlier): lingering begins on arrival, not once the walk has slowed.
    """
    marks = sorted((p.t, t.track_id) for t in people for i, p in enumerate(t.points)
                   if zone in p.zones and (i == 0 or p.speed < 0.6))
    entry = {t.track_id: t.first_in(zone) for t in people}
    best_start, best, start, prev = None, 0.0, None, None
    for t, track_id in marks:
        if prev is None or t - prev > gap_s:
            came = entry.get(track_id)
            start = came if came is not None and t - entry_s <= came < t else t
        prev = t
        if start is not None and t - start > best:
            best_start, best = start, t - start
    return best_start, best


def _running(people: list[TrackFacts], s: RuleSettings, c: CellSignals, have_cells: bool, share: Any,
             facts: SceneFacts) -> list[TypeEvidence]:
    out = []
    for t in people:
        # only where the track was one person's size: merged with a passing car, a blob moves at the car's pace
        fast = t.sustained_speed(0.75, max_size=s.group_size)
        # the detector's own speed at the unusual cell must agree, when it has one, unless the
        # track kept the pace a while (the unusual cell may be something else, a car passing by)
        agreed = not have_cells or c.speed >= 0.5 * s.run_speed or t.fast_span(s.run_speed, max_size=s.group_size) >= RUN_KEPT_S
        if fast >= s.run_speed and t.duration_s >= RUN_MIN_S and agreed:
            onset = next((p.t for p in t.points[1:] if p.speed >= s.run_speed and p.size <= s.group_size), t.first_t)
            conf, versus = None, "walking is about 0.8"
            if t.stats is not None and facts.norms is not None:
                # against the speeds of the camera's normal people (same statistic, same unit)
                cal = facts.norms.calibration("speed", group="person")
                if cal is not None:
                    conf = cal(float(t.stats[NORM_FEATURES.index("speed")]))
                    versus = f"99.9% of the camera's normal people stay under {cal.high:.1f}"
            elif not t.label:
                # a blob: against the camera's normal person-sized blobs measured the same way (a
                # blob that splits or merges jumps for a moment); as for named people, the rule's
                # own run_speed says what running is and the normal pace how unusual it is here
                cal = _blob_calibration(facts, "speed", None, 0.0, group_size=s.group_size)
                if cal is not None:
                    conf = cal(fast)
                    versus = f"99.9% of the camera's normal people keep under {cal.high:.1f}"
            if conf is None:
                conf = min(0.95, 0.8 + 0.1 * (fast - s.run_speed) + 0.05 * share(t))
            out.append(TypeEvidence("running", conf, f"a person moved at {fast:.1f} body heights/s for {t.duration_s:.1f} s "
                                    f"({versus})", t.track_id, onset))
    if c.speed >= s.run_speed + 0.2 and c.size < 2.5 and not facts.detected:
        # without a track that keeps the pace this may be a blob splitting or merging: a hint only
        out.append(TypeEvidence("running", 0.7, f"someone seemed to move at {c.speed:.1f} body heights/s (walking "
                                "is about 0.8), but no track confirms it", None, c.first_t))
    return out


def _fighting(local: list[TrackFacts], s: RuleSettings, c: CellSignals, detected: bool, traffic: bool,
              facts: SceneFacts) -> list[TypeEvidence]:
    """Fights between tracks, or from the unusual cell's blob measures where no detector names the
    objects and no vehicle drove through the cell (``traffic``: its measures would be the vehicle's).

    Confidence of two tracks: how far their time close together in one spot, erratic
    (:meth:`TrackFacts.scuffle_s`), lies beyond the same of the camera's normal people (blobs of
    people passing each other merge and split erratically for a moment, detector boxes jitter in
    a crowd; where they never do, any scuffle is beyond normal: the rule's own 1 s least only
    keeps flicker out); 0.85 without them."""
    settings = {"fight_jitter": s.fight_jitter, "dwell_speed": s.dwell_speed}
    cal_blobs = _blob_calibration(facts, "scuffle_s", None, 0.0, **settings)
    cal_named = facts.norms.scuffle_calibration(**settings) if facts.norms is not None else None
    out = []
    for i, a in enumerate(local):
        for b in local[i + 1:]:
            named = bool(a.label and b.label)
            if detected and not named:
                continue  # where the detector names people, a blob it does not explain is no one to fight
            # a fight happens in one spot: two who keep close while walking on are walking together;
            # detector boxes are steadier than blobs that merge and split: both people named by
            # the detector must move erratically, each seen long enough to say so
            close = a.scuffle_s(b, s.fight_jitter, s.dwell_speed, both=named)
            if close >= 1.0:
                cal = cal_named if named else cal_blobs
                conf, versus = 0.85, ""
                if cal is not None:
                    conf = cal(close)
                    versus = f" (99.9% of the camera's normal people who come that close part within {cal.high:.1f} s)"
                out.append(TypeEvidence("fighting", conf, f"two people stayed within reach of each other for "
                                        f"{close:.1f} s, moving erratically{versus}", a.track_id, a.close_time(b)[1]))
        if not a.label and 1.4 <= a.size() <= 3.5 and a.jitter() >= s.fight_jitter and a.duration_s >= 2.0:
            out.append(TypeEvidence("fighting", 0.75, f"a blob of about two people ({a.size():.1f} person areas) "
                                    f"jittered for {a.duration_s:.1f} s", a.track_id, a.first_t))
    # the cell's blob measures stand in for tracks only where no detector names the objects, and
    # only where some blob there did stay in one spot a while (the cell's dwell also builds up
    # while passers-by cross it one after another)
    stayed = any(_stays(t, s.dwell_speed) for t in local)
    if (not detected and not traffic and stayed and 1.3 <= c.size <= 4.0 and c.dwell >= 0.3
            and c.jitter >= s.fight_jitter / 5 and c.speed < s.run_speed and c.windows >= 2):
        # the tracks say when the two came together, where they show it; else the detector's first strong window
        met = [e.start_s for e in out if e.start_s is not None]
        out.append(TypeEvidence("fighting", 0.8, f"about two people ({c.size:.1f} person areas) staying in one spot "
                                f"and moving erratically (velocity changes of {c.jitter:.2f} body heights/s)", None,
                                min(met) if met else c.first_t))
    return out


def _stays(t: TrackFacts, speed: float, min_s: float = 1.0) -> bool:
    """Whether a track stayed in one spot for ``min_s`` seconds somewhere: its feet moved on at
    no more than ``speed`` body heights per second over that time (jitter within it aside)."""
    pts = t.points
    j = 0
    for i, a in enumerate(pts):
        j = max(j, i)
        while j < len(pts) and pts[j].t - a.t < min_s:
            j += 1
        if j >= len(pts):
            return False
        b = pts[j]
        unit = max(a.person_h or a.h, 1e-6)
        if math.hypot((b.x - a.x) * a.frame_aspect, b.y - a.y) / unit / (b.t - a.t) <= speed:
            return True
    return False
