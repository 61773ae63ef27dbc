"""Rules that name an anomaly from scene facts, each with its evidence.

Every rule looks at the tracks of the event's stretch of video and either stays silent or
returns a :class:`TypeEvidence` with a confidence and a sentence saying why. The Analyst's
``classify`` tool combines them with the type head (when the camera has one); the rule policy
uses them as its whole judgement.

=================  ==========================================================================
running            a person moving at more than ``run_speed`` body heights per second
falling            a person whose outline turns wide (lying) and stays down
fighting           two people within reach of each other moving erratically, or one merged
                   blob of two people jittering
loitering          a person staying slow inside a loitering zone (or one spot) for long
intrusion          a person's feet inside a restricted zone
vehicle            a vehicle-sized object inside a pedestrian zone (or where none go)
abandoned_object   a small object that appears and stays while its carrier leaves
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.scene import STILL_SPEED, SceneFacts, TrackFacts
from vigil.config import Zone


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds of the type rules (body heights per second, seconds, ratios)."""

    run_speed: float = 1.6
    lying_aspect: float = 1.3
    lying_s: float = 1.5
    loiter_s: float = 6.0
    intrusion_s: float = 1.0
    vehicle_s: float = 1.0
    object_s: float = 3.0
    fight_jitter: float = 0.6


@dataclass(frozen=True)
class TypeEvidence:
    """A rule's verdict on one anomaly type."""

    event_type: str
    confidence: float
    evidence: str
    track_id: int | None = None


def _zones(zones: Sequence[Zone], kind: str) -> list[Zone]:
    return [z for z in zones if z.kind == kind]


def _in_window(track: TrackFacts, t0: float, t1: float) -> bool:
    return track.last_t >= t0 and track.first_t <= t1


@dataclass(frozen=True)
class CellSignals:
    """What the detector measured at the unusual cell over an event's strong windows."""

    speed: float = 0.0       # highest 75th-percentile speed (body heights / s)
    jitter: float = 0.0      # median velocity change (body heights / s)
    size: float = 0.0        # median blob size (person areas)
    large_rarity: float = 0.0  # highest rarity of large blobs there (0..1)
    dwell: float = 0.0       # highest dwell (0..1)
    persist_aspect: float = 0.0
    windows: int = 0

    @classmethod
    def from_features(cls, features: Sequence[dict[str, float]]) -> CellSignals:
        """Summarise the named cell features of an event's strong windows."""
        rows = [f for f in features if f]
        if not rows:
            return cls()

        def col(name: str) -> np.ndarray:
            return np.array([r.get(name, 0.0) for r in rows], float)

        return cls(
            speed=float(col("speed_high").max()),
            jitter=float(np.median(col("jitter"))),
            size=float(np.median(col("size"))),
            large_rarity=float(col("large_rarity").max()),
            dwell=float(col("dwell").max()),
            persist_aspect=float(col("persist_aspect").max()),
            windows=len(rows),
        )


def classify_scene(
    facts: SceneFacts,
    zones: Sequence[Zone] = (),
    settings: RuleSettings | None = None,
    region: tuple[float, float, float, float] | None = None,
    cells: CellSignals | None = None,
) -> list[TypeEvidence]:
    """All rules that fire, strongest first.

    Args:
        facts: tracks of the event's stretch of video.
        zones: the camera's zones.
        settings: rule thresholds.
        region: where the detector found the event (normalised box); tracks crossing it
            count a little more.
        cells: the detector's measurements at the unusual cell, when the encoder has named
            features (the motion encoder does).
    """
    s = settings or RuleSettings()
    c = cells or CellSignals()
    found: list[TypeEvidence] = []
    people = [t for t in facts.tracks if t.kind == "person"]
    large = [t for t in facts.tracks if t.kind == "large"]
    small = [t for t in facts.tracks if t.kind == "small"]

    def share_in_region(track: TrackFacts) -> float:
        if region is None:
            return 1.0
        x1, y1, x2, y2 = region
        pad = 0.08
        inside = [x1 - pad <= p.x <= x2 + pad and y1 - pad <= p.y <= y2 + pad for p in track.points]
        return float(np.mean(inside))

    def near_region(track: TrackFacts) -> float:
        return 0.05 * share_in_region(track)

    # behaviour rules look at what happened where the detector saw the anomaly; zone rules
    # look everywhere, since the zones say where to look
    local_people = [t for t in people if share_in_region(t) > 0.0]

    # intrusion: feet inside a restricted zone
    for zone in _zones(zones, "restricted"):
        for t in people + small:
            inside = t.zones.get(zone.name, 0.0)
            if inside >= s.intrusion_s and t.kind == "person":
                conf = min(0.97, 0.8 + 0.05 * inside)
                found.append(TypeEvidence("intrusion", conf, f"a person stood inside restricted zone '{zone.name}' for {inside:.1f} s", t.track_id))
    # vehicle: vehicle-sized object in a pedestrian zone
    ped = _zones(zones, "pedestrian")
    for t in large:
        moving = t.speed_quantile(0.5) > 0.1
        if ped:
            inside = max(t.zones.get(z.name, 0.0) for z in ped)
            if inside >= s.vehicle_s and moving:
                found.append(TypeEvidence("vehicle", min(0.97, 0.8 + 0.03 * inside),
                                          f"a vehicle-sized object ({t.size():.1f} person areas) moved {inside:.1f} s inside pedestrian zone "
                                          f"'{ped[0].name}'", t.track_id))
        elif moving and t.duration_s >= s.vehicle_s:
            found.append(TypeEvidence("vehicle", 0.6, f"a vehicle-sized object ({t.size():.1f} person areas) moved through the scene", t.track_id))
    if c.large_rarity >= 0.8 and c.size >= 4.0:
        found.append(TypeEvidence("vehicle", 0.85, f"a vehicle-sized blob ({c.size:.1f} person areas) where vehicles never go"))
    # falling: a person turns wide and stays down
    for t in local_people:
        aspects = t.aspects()
        if aspects.size < 3:
            continue
        wide = aspects > s.lying_aspect
        wide_s = float(np.sum(wide)) * (t.duration_s / max(len(aspects) - 1, 1))
        upright_before = bool(np.any(aspects[: max(1, int(np.argmax(wide)))] < 0.9)) if wide.any() else False
        if wide_s >= s.lying_s and wide[-max(2, len(wide) // 4):].mean() > 0.5:
            conf = 0.9 if upright_before else 0.75
            found.append(TypeEvidence("falling", conf + near_region(t),
                                      f"a person's outline turned wide (width/height {aspects.max():.1f}) and stayed down for {wide_s:.1f} s", t.track_id))
    # abandoned object: a small still object that appears and stays
    for t in small:
        if t.duration_s < s.object_s or t.speed_quantile(0.8) >= STILL_SPEED:
            continue
        x, y = t.points[0].x, t.points[0].y

        def reached(q: Any) -> bool:
            return abs(q.x - x) < 0.75 * q.h and abs(q.y - y) < 0.5 * q.h

        # its carrier: someone who was next to it and then walked away (or out of view)
        owners = [p for p in people if any(reached(q) for q in p.points) and not reached(p.points[-1])]
        if owners:
            found.append(TypeEvidence("abandoned_object", 0.85 + near_region(t),
                                      f"a small object was left at ({x:.2f}, {y:.2f}) by a person who walked away; "
                                      f"it stayed for {t.duration_s:.1f} s", t.track_id))
    # loitering: slow presence in a loitering zone, or at one spot, for long
    loiter_zones = _zones(zones, "loitering")
    for t in people:
        in_zone = max((t.zones.get(z.name, 0.0) for z in loiter_zones), default=0.0)
        slow = t.speed_quantile(0.5) < 0.5
        if loiter_zones and in_zone >= s.loiter_s and slow:
            found.append(TypeEvidence("loitering", min(0.95, 0.75 + 0.01 * in_zone),
                                      f"a person lingered {in_zone:.1f} s in loitering zone '{loiter_zones[0].name}' at walking pace or slower", t.track_id))
        elif not loiter_zones and t.duration_s >= 2 * s.loiter_s and slow:
            span = np.ptp([p.x for p in t.points]) + np.ptp([p.y for p in t.points])
            if span < 0.25:
                found.append(TypeEvidence("loitering", 0.7, f"a person stayed around one spot for {t.duration_s:.1f} s", t.track_id))
    if loiter_zones and region is not None and c.dwell >= 0.45 and c.size < 1.3 and c.speed < 0.5:
        x1, y1, x2, y2 = region
        cx, cy = (x1 + x2) / 2, y2
        zone = next((z for z in loiter_zones if z.contains(cx, cy) or z.contains(cx, (y1 + y2) / 2)), None)
        if zone is not None:
            found.append(TypeEvidence("loitering", 0.78, f"someone has stayed slow in loitering zone '{zone.name}' for a long time"))
    # running: a person much faster than walking
    for t in local_people:
        fast = t.sustained_speed(0.75)
        # the detector's own speed at the unusual cell must agree, when it has one
        if fast >= s.run_speed and t.duration_s >= 1.5 and (cells is None or c.speed >= 0.5 * s.run_speed):
            found.append(TypeEvidence("running", min(0.95, 0.75 + 0.1 * (fast - s.run_speed)) + near_region(t),
                                      f"a person moved at {fast:.1f} body heights/s for {t.duration_s:.1f} s (walking is about 0.8)", t.track_id))
    if c.speed >= s.run_speed + 0.2 and c.size < 2.5:
        found.append(TypeEvidence("running", min(0.95, 0.75 + 0.1 * (c.speed - s.run_speed)),
                                  f"someone moved at {c.speed:.1f} body heights/s (walking is about 0.8)"))
    # fighting: people within reach moving erratically, or one jittering merged blob
    for i, a in enumerate(local_people):
        for b in local_people[i + 1:]:
            close = _close_time(a, b)
            if close >= 1.0 and max(a.jitter(), b.jitter()) >= s.fight_jitter:
                found.append(TypeEvidence("fighting", 0.85,
                                          f"two people stayed within reach of each other for {close:.1f} s, moving erratically", a.track_id))
        if 1.4 <= a.size() <= 3.5 and a.jitter() >= s.fight_jitter and a.duration_s >= 2.0:
            found.append(TypeEvidence("fighting", 0.75,
                                      f"a blob of about two people ({a.size():.1f} person areas) jittered for {a.duration_s:.1f} s", a.track_id))
    if 1.3 <= c.size <= 4.0 and c.dwell >= 0.3 and c.jitter >= s.fight_jitter / 5 and c.speed < s.run_speed and c.windows >= 2:
        found.append(TypeEvidence("fighting", 0.8,
                                  f"about two people ({c.size:.1f} person areas) staying in one spot and moving erratically "
                                  f"(velocity changes of {c.jitter:.2f} body heights/s)"))
    best: dict[str, TypeEvidence] = {}
    for e in found:
        if e.event_type not in best or e.confidence > best[e.event_type].confidence:
            best[e.event_type] = e
    return sorted(best.values(), key=lambda e: -e.confidence)


def _close_time(a: TrackFacts, b: TrackFacts) -> float:
    """Seconds two tracks spent within about one body height of each other."""
    tb = {round(p.t, 3): p for p in b.points}
    close = 0.0
    prev_t = None
    for p in a.points:
        q = tb.get(round(p.t, 3))
        if q is not None and abs(p.x - q.x) < max(p.h, q.h) * 0.75 and abs(p.y - q.y) < max(p.h, q.h) * 0.5:
            if prev_t is not None:
                close += p.t - prev_t
            prev_t = p.t
        else:
            prev_t = None
    return close
