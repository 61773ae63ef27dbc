"""Type rules and tripwires on hand-made tracks and cell features."""

from __future__ import annotations

import numpy as np

from agents.rules import RuleSettings, classify_scene
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


def test_a_track_that_begins_with_the_person_down_does_not_time_the_fall() -> None:
    down = [(10 + t / 4, 0.44, 0.6, 0.12, 0.04, 1.0, 0.05) for t in range(12)]
    found = classify_scene(SceneFacts(10, 13, [_track(down)]))
    assert found and found[0].event_type == "falling" and found[0].start_s is None  # the detector's onset stands


def test_an_abandoned_bag_dates_from_when_its_owner_stood_by_it() -> None:
    arrive = [(t / 4, 0.2 + t * 0.02, 0.7, 0.04, 0.12, 1.0, 0.7) for t in range(16)]  # reaches x = 0.5 at 3.75 s
    stand = [(4 + t / 4, 0.5, 0.7, 0.04, 0.12, 1.0, 0.05) for t in range(8)]  # stands there 4-5.75 s
    leave = [(6 + t / 4, 0.5 + t * 0.03, 0.7, 0.04, 0.12, 1.0, 0.9) for t in range(16)]
    owner = _track(arrive + stand + leave)
    # the bag is seen apart from its owner only once they have walked off
    bag = TrackFacts(2, "small", [TrackPoint(7.5 + t / 4, 0.53, 0.7, 0.02, 0.02, 0.1, 0.0) for t in range(20)])
    short = RuleSettings(object_s=3.0)  # a demo's seconds; real sites leave a bag for minutes
    found = {e.event_type: e for e in classify_scene(SceneFacts(0, 12.5, [owner, bag]), settings=short)}
    assert "abandoned_object" in found
    assert 3.5 <= found["abandoned_object"].start_s <= 6.0  # while the owner stood there, not at 7.5 s


def test_loitering_begins_when_the_person_walks_into_the_zone() -> None:
    zone = Zone(name="kiosk", kind="loitering", polygon=((0.1, 0.5), (0.4, 0.5), (0.4, 0.8), (0.1, 0.8)))
    walk_in = [TrackPoint(t / 4, 0.45 - t * 0.02, 0.6, 0.04, 0.12, 1.0, 0.8, zones=("kiosk",) if 0.45 - t * 0.02 < 0.4 else ())
               for t in range(8)]  # in the zone from 0.75 s, still walking
    linger = [TrackPoint(2 + t / 4, 0.3, 0.6, 0.04, 0.12, 1.0, 0.2, zones=("kiosk",)) for t in range(36)]
    person = TrackFacts(1, "person", walk_in + linger, zones={"kiosk": 10.0})
    found = {e.event_type: e for e in classify_scene(SceneFacts(0, 11, [person]), [zone], RuleSettings(loiter_s=6.0))}
    assert "loitering" in found and found["loitering"].start_s == 0.75
    assert "loitering" not in {e.event_type for e in classify_scene(SceneFacts(0, 11, [person]), [zone])}  # 2 min default


def test_the_rule_onset_wins_over_the_detectors_lead_up() -> None:
    from agents.policy import alert_onset

    assert alert_onset(12.5, 19.6, now=30.0) == 19.6  # the detector's start included the walk before the fall
    assert alert_onset(12.5, 10.0, now=30.0) == 10.0  # evidence a little earlier than the detector
    assert alert_onset(12.5, 2.0, now=30.0) == 12.5  # implausibly early evidence is ignored
    assert alert_onset(12.5, None, now=30.0) == 12.5


def test_a_car_on_the_road_is_passing_traffic_and_one_on_the_plaza_is_not() -> None:
    from agents.rules import ordinary_traffic

    plaza = Zone(name="plaza", kind="pedestrian", polygon=((0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)))
    road = TrackFacts(3, "large", [TrackPoint(10 + t / 4, 0.1 + t * 0.05, 0.15, 0.2, 0.08, 6.0, 4.5) for t in range(16)])
    cell = (0.5, 0.125, 0.6, 0.25)
    assert ordinary_traffic(SceneFacts(10, 14, [road]), [plaza], cell, 11.0, 13.0) is not None
    assert ordinary_traffic(SceneFacts(10, 14, [road]), [plaza], (0.5, 0.75, 0.6, 0.875), 11.0, 13.0) is None  # elsewhere
    assert ordinary_traffic(SceneFacts(10, 14, [road]), [], cell, 11.0, 13.0) is None  # no telling where cars belong
    on_plaza = TrackFacts(4, "large", [TrackPoint(10 + t / 4, 0.1 + t * 0.05, 0.5, 0.2, 0.08, 6.0, 4.5) for t in range(16)],
                          zones={"plaza": 4.0})
    assert ordinary_traffic(SceneFacts(10, 14, [on_plaza]), [plaza], (0.5, 0.375, 0.6, 0.5), 11.0, 13.0) is None


def test_people_walking_together_are_not_called_a_vehicle() -> None:
    plaza = Zone(name="plaza", kind="pedestrian", polygon=((0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)))

    def blob(size: float) -> TrackFacts:
        return TrackFacts(5, "large", [TrackPoint(t / 4, 0.2 + t * 0.02, 0.6, 0.1, 0.12, size, 0.9, zones=("plaza",))
                                       for t in range(12)], zones={"plaza": 2.75})

    group = {e.event_type: e for e in classify_scene(SceneFacts(0, 3, [blob(2.8)]), [plaza])}
    car = {e.event_type: e for e in classify_scene(SceneFacts(0, 3, [blob(6.5)]), [plaza])}
    assert car["vehicle"].confidence >= 0.8
    assert "vehicle" not in group or group["vehicle"].confidence < 0.8  # below the default alert threshold


def test_two_people_walking_on_together_are_not_fighting_and_two_in_one_spot_are() -> None:
    def pair(drift: float) -> list[TrackFacts]:
        # two people side by side, their steps jerky (velocity changes of ~1 body height/s)
        a = [(t / 8, 0.4 + drift * 0.12 * t / 8 + 0.01 * (t % 2), 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(24)]
        b = [(t / 8, 0.43 + drift * 0.12 * t / 8 - 0.01 * (t % 2), 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(24)]
        return [_track(a), TrackFacts(2, "person", [TrackPoint(*p) for p in b])]

    def types(tracks: list[TrackFacts]) -> set[str]:
        return {e.event_type for e in classify_scene(SceneFacts(0, 3, tracks))}

    assert "fighting" in types(pair(0.0))
    assert "fighting" not in types(pair(1.0))  # walking on at 1 body height per second
