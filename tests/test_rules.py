"""Type rules and tripwires on hand-made tracks and cell features."""

from __future__ import annotations

import numpy as np

from agents.rules import classify_scene
from perception.encoders.motion import FEATURES
from perception.scene import SceneFacts, TrackFacts, TrackPoint
from perception.tripwires import Tripwires
from vigil.config import Zone


def _track(points: list[tuple[float, float, float, float, float, float, float]], kind: str = "person") -> TrackFacts:
    """Points of (t, x, y, w, h, size, speed)."""
    return TrackFacts(1, kind, [TrackPoint(t, x, y, w, h, size, speed) for t, x, y, w, h, size, speed in points])


def test_a_person_who_goes_down_and_stays_down_is_a_fall() -> None:
    walk = [(t / 4, 0.4 + t * 0.005, 0.6, 0.04, 0.12, 1.0, 0.8) for t in range(8)]
    down = [(2 + t / 4, 0.44, 0.6, 0.12, 0.04, 1.0, 0.05) for t in range(12)]
    found = classify_scene(SceneFacts(0, 5, [_track(walk + down)]))
    assert found and found[0].event_type == "falling"
    assert 1.4 <= found[0].start_s <= 2.0


def test_a_track_that_switches_to_a_passing_car_is_not_a_fall() -> None:
    walk = [(t / 4, 0.3 - t * 0.01, 0.12, 0.03, 0.09, 0.8, 0.8) for t in range(20)]
    car = [(5 + t / 4, 0.1 + t * 0.1, 0.18, 0.2, 0.11, 6.5, 4.0) for t in range(8)]
    assert [e.event_type for e in classify_scene(SceneFacts(0, 7, [_track(walk + car)]))] == []


def test_a_box_cut_by_the_frame_edge_is_not_a_lying_person() -> None:
    walk = [(t / 4, 0.9, 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(8)]
    edge = [(2 + t / 4, 0.96, 0.5, 0.09, 0.04, 1.0, 0.05) for t in range(12)]  # box reaches x = 1.0
    assert "falling" not in [e.event_type for e in classify_scene(SceneFacts(0, 5, [_track(walk + edge)]))]


def test_intrusion_tripwire_fires_only_for_feet_inside_a_restricted_zone() -> None:
    zone = Zone(name="keep-out", kind="restricted", polygon=((0.6, 0.6), (0.9, 0.6), (0.9, 0.95), (0.6, 0.95)))
    wires = Tripwires().for_zones([zone], (8, 10))
    assert wires.restricted is not None and wires.restricted[6, 7] and not wires.restricted[2, 2]
    assert not wires.restricted[4, 5]  # a cell the zone only grazes (y 0.5-0.625) is left out
    cells = np.zeros((8, 10, len(FEATURES)), np.float32)
    idx = {n: i for i, n in enumerate(FEATURES)}
    cells[2, 2, idx["feet_occ"]], cells[2, 2, idx["size"]] = 1.0, 1.0
    assert wires.check(cells, FEATURES) is None
    cells[6, 7, idx["feet_occ"]], cells[6, 7, idx["size"]] = 0.8, 1.0
    assert wires.check(cells, FEATURES) == "intrusion"
    assert Tripwires().for_zones([], (8, 10)).check(cells, FEATURES) is None
