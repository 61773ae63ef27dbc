"""Type rules and tripwires on hand-made tracks and cell features."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import blob_rows, rule_track

from agents.rules import CellSignals, RuleSettings, classify_scene
from perception.encoders.motion import FEATURES
from perception.score.tripwires import Tripwires
from perception.track.scene import SceneFacts, TrackFacts, TrackPoint
from vigil.core.config import Zone


def test_a_person_who_goes_down_and_stays_down_is_a_fall() -> None:
    walk = [(t / 4, 0.4 + t * 0.005, 0.6, 0.04, 0.12, 1.0, 0.8) for t in range(8)]
    down = [(2 + t / 4, 0.44, 0.6, 0.12, 0.04, 1.0, 0.05) for t in range(12)]
    found = classify_scene(SceneFacts(0, 5, [rule_track(walk + down)]))
    assert found and found[0].event_type == "falling"
    assert 1.4 <= found[0].start_s <= 2.0


def test_a_fall_is_as_sure_as_the_time_down_lies_beyond_how_long_the_cameras_normal_blobs_look_like_that() -> None:
    from perception.track.norms import BlobNorms

    walk = [(t / 4, 0.4 + t * 0.005, 0.6, 0.04, 0.12, 1.0, 0.8) for t in range(8)]
    down = [(2 + t / 4, 0.44, 0.6, 0.12, 0.04, 1.0, 0.05) for t in range(13)]  # down for 3 s
    rng = np.random.default_rng(0)

    def norms(lying_s: np.ndarray) -> BlobNorms:
        n = len(lying_s)
        return BlobNorms(blob_rows(vehicle_s=np.zeros(n), lying_s=lying_s, x=rng.uniform(0, 1, n), y=rng.uniform(0, 1, n)),
                         {"lying_aspect": 1.3, "lying_speed": 1.0, "group_size": 2.5})

    def confidence(blob_norms: BlobNorms) -> float:
        found = {e.event_type: e for e in classify_scene(SceneFacts(0, 5, [rule_track(walk + down)], blob_norms=blob_norms))}
        return found["falling"].confidence if "falling" in found else 0.0

    assert confidence(norms(rng.uniform(0.0, 0.9, 200))) >= 0.8  # side-by-side walkers look wide for under a second
    assert confidence(norms(rng.uniform(0.0, 8.0, 200))) < 0.8  # a camera where wide, slow blobs are common


def test_a_profile_fitted_before_a_blob_statistic_existed_keeps_the_others_calibrated() -> None:
    from perception.track.norms import BLOB_FEATURES, BlobNorms

    rng = np.random.default_rng(3)
    older = [name for name in BLOB_FEATURES if name != "scuffle_s"]  # what such a profile stored
    rows = rng.uniform(0.0, 0.9, (200, len(older))).astype(np.float32)
    measured = {"lying_aspect": 1.3, "lying_speed": 1.0, "group_size": 2.5}
    back = BlobNorms.restore({"features": older, "measured": measured}, {"rows": rows})
    assert back is not None
    lying = back.calibration("lying_s", settings=measured)
    assert lying is not None and lying == BlobNorms(np.column_stack([rows[:, :3], np.full(200, np.nan), rows[:, 3:]]),
                                                    measured).calibration("lying_s", settings=measured)
    # the new statistic was never measured there, nor with the settings it needs: its rule keeps
    # the fixed confidence until the camera is fitted again
    assert back.calibration("scuffle_s") is None
    assert back.calibration("lying_s", settings={**measured, "fight_jitter": 0.5}) is None
    assert BlobNorms.restore({"features": ["vehicle_s", "rest_s"], "measured": {}}, {"rows": rows[:, :2]}) is None


def test_an_intrusion_is_as_sure_as_the_stay_lies_beyond_the_normal_movers_time_in_the_zone() -> None:
    from perception.track.norms import BLOB_FEATURES, BlobNorms

    zone = Zone(name="keep-out", kind="restricted", polygon=((0.6, 0.6), (0.9, 0.6), (0.9, 0.95), (0.6, 0.95)))
    # someone walks into the zone and stands there for 2 s
    walk = [(t / 4, 0.5 + t * 0.02, 0.7, 0.04, 0.12, 1.0, 0.8) for t in range(8)]
    stand = [(2 + t / 4, 0.66, 0.7, 0.04, 0.12, 1.0, 0.05) for t in range(9)]
    track = rule_track(walk + stand)
    track.zones = {"keep-out": 2.5}
    rows = np.full((300, len(BLOB_FEATURES)), np.nan, np.float32)
    rng = np.random.default_rng(2)

    def confidence(zone_s: np.ndarray | None, drawn: Zone = zone) -> float:
        norms = None if zone_s is None else BlobNorms(rows, {}, zone_s[:, None], [(drawn.name, drawn.polygon)])
        found = {e.event_type: e for e in classify_scene(SceneFacts(0, 5, [track], blob_norms=norms), [zone])}
        return found["intrusion"].confidence if "intrusion" in found else 0.0

    never = confidence(np.zeros(300))  # nobody ever goes there
    assert never >= 0.9
    kept = BlobNorms(rows, {}, np.zeros((300, 1)), [(zone.name, zone.polygon)])
    back = BlobNorms.restore(json.loads(json.dumps(kept.settings())), kept.arrays())  # as a profile stores it
    assert back is not None and back.zone_calibration(zone) == kept.zone_calibration(zone) is not None
    # people routinely cut across the zone's corner for up to 4 s: 2.5 s inside says less
    assert confidence(np.where(rng.random(300) < 0.3, rng.uniform(0.5, 4.0, 300), 0.0)) < 0.8
    # a zone redrawn since fitting has no normal stays measured: the fixed confidence
    moved = Zone(name="keep-out", kind="restricted", polygon=((0.5, 0.6), (0.9, 0.6), (0.9, 0.95), (0.5, 0.95)))
    assert confidence(np.zeros(300), drawn=moved) == confidence(None)


def test_a_track_that_switches_to_a_passing_car_is_not_a_fall() -> None:
    walk = [(t / 4, 0.3 - t * 0.01, 0.12, 0.03, 0.09, 0.8, 0.8) for t in range(20)]
    car = [(5 + t / 4, 0.1 + t * 0.1, 0.18, 0.2, 0.11, 6.5, 4.0) for t in range(8)]
    assert [e.event_type for e in classify_scene(SceneFacts(0, 7, [rule_track(walk + car)]))] == []


def test_a_box_cut_by_the_frame_edge_is_not_a_lying_person() -> None:
    walk = [(t / 4, 0.9, 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(8)]
    edge = [(2 + t / 4, 0.96, 0.5, 0.09, 0.04, 1.0, 0.05) for t in range(12)]  # box reaches x = 1.0
    assert "falling" not in [e.event_type for e in classify_scene(SceneFacts(0, 5, [rule_track(walk + edge)]))]


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
    found = classify_scene(SceneFacts(10, 13, [rule_track(down)]))
    assert found and found[0].event_type == "falling" and found[0].start_s is None  # the detector's onset stands


def test_an_abandoned_bag_dates_from_when_its_owner_stood_by_it() -> None:
    arrive = [(t / 4, 0.2 + t * 0.02, 0.7, 0.04, 0.12, 1.0, 0.7) for t in range(16)]  # reaches x = 0.5 at 3.75 s
    stand = [(4 + t / 4, 0.5, 0.7, 0.04, 0.12, 1.0, 0.05) for t in range(8)]  # stands there 4-5.75 s
    leave = [(6 + t / 4, 0.5 + t * 0.03, 0.7, 0.04, 0.12, 1.0, 0.9) for t in range(16)]
    owner = rule_track(arrive + stand + leave)
    # the bag is seen apart from its owner only once they have walked off
    bag = TrackFacts(2, "small", [TrackPoint(7.5 + t / 4, 0.53, 0.7, 0.02, 0.02, 0.1, 0.0) for t in range(20)])
    short = RuleSettings(object_s=3.0)  # a demo's seconds; real sites leave a bag for minutes
    found = {e.event_type: e for e in classify_scene(SceneFacts(0, 12.5, [owner, bag]), settings=short)}
    assert "abandoned_object" in found
    assert 3.5 <= found["abandoned_object"].start_s <= 6.0  # while the owner stood there, not at 7.5 s


def test_a_left_bag_whose_small_blob_jitters_and_breaks_as_people_pass_is_abandoned_since_it_first_lay_there() -> None:
    def piece(track_id: int, t0: float, n: int) -> TrackFacts:
        # a bag a few pixels wide: its box edge jumps a pixel now and then, which reads as 0.4
        # body heights/s from one frame to the next though it never moves
        return TrackFacts(track_id, "small", [TrackPoint(t0 + k / 8, 0.25 + (0.003 if k % 3 == 0 else 0.0), 0.34, 0.02, 0.02,
                                                         0.1, 0.4 if k % 3 == 0 else 0.0, person_h=0.15) for k in range(n)])

    # seen 2.0-3.9 s and 5.0-8.9 s: a passer-by hides it in between
    short = RuleSettings(object_s=3.0)
    found = {e.event_type: e for e in classify_scene(SceneFacts(0, 9, [piece(1, 2.0, 16), piece(2, 5.0, 32)]), settings=short)}
    assert "abandoned_object" in found
    assert found["abandoned_object"].start_s == pytest.approx(2.0)
    # a moment on the ground is not left behind
    assert "abandoned_object" not in {e.event_type for e in classify_scene(SceneFacts(0, 3, [piece(3, 0.0, 16)]), settings=short)}


def test_a_still_patch_the_frame_edge_cuts_is_not_an_object_left_behind() -> None:
    # a passer-by walks off; a flat patch at the left edge stays put (the nose of a car waiting
    # out of view, road markings the background model lost under it): nothing shows it is small
    walker = rule_track([(t / 4, 0.1 + t * 0.03, 0.3, 0.04, 0.12, 1.0, 0.9) for t in range(24)])
    short = RuleSettings(object_s=3.0)

    def patch(x: float) -> TrackFacts:
        return TrackFacts(2, "small", [TrackPoint(0.5 + k / 8, x, 0.17, 0.05, 0.01, 0.1, 0.0, person_h=0.1) for k in range(64)])

    at_edge = {e.event_type for e in classify_scene(SceneFacts(0, 9, [walker, patch(0.025)]), settings=short)}
    inside = {e.event_type for e in classify_scene(SceneFacts(0, 9, [walker, patch(0.2)]), settings=short)}
    assert "abandoned_object" not in at_edge
    assert "abandoned_object" in inside  # the same patch in full view is


def test_a_resting_object_counts_as_left_behind_by_how_long_it_outlasts_the_cameras_normal_small_blobs() -> None:
    from perception.track.norms import BlobNorms

    bag = TrackFacts(1, "small", [TrackPoint(2 + k / 8, 0.25, 0.34, 0.02, 0.02, 0.1, 0.0, person_h=0.15) for k in range(81)])
    rng = np.random.default_rng(0)

    def norms(rest: np.ndarray) -> BlobNorms:
        n = len(rest)
        return BlobNorms(blob_rows(vehicle_s=np.zeros(n), rest_s=rest, x=rng.uniform(0, 1, n), y=rng.uniform(0, 1, n)),
                         {"still_speed": 0.25})

    quiet = norms(rng.uniform(0.0, 1.5, 200))  # shadows and limbs lie still for a moment
    busy = norms(rng.uniform(0.0, 20.0, 200))  # a camera where small things often lie still for long
    short = RuleSettings(object_s=3.0)

    def confidence(blob_norms: BlobNorms) -> float:
        found = {e.event_type: e for e in classify_scene(SceneFacts(0, 12, [bag], blob_norms=blob_norms), settings=short)}
        return found["abandoned_object"].confidence if "abandoned_object" in found else 0.0

    assert confidence(quiet) >= 0.8  # 10 s at rest where normal small blobs rest under 2 s
    assert confidence(busy) < 0.8


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


def test_a_vehicle_sized_blob_counts_as_a_vehicle_by_how_long_it_outlasts_the_cameras_normal_merges() -> None:
    from perception.track.norms import BlobNorms

    plaza = Zone(name="plaza", kind="pedestrian", polygon=((0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)))

    def blob(big_s: float) -> TrackFacts:
        """A blob crossing the plaza for 3 s, vehicle-sized (5 person areas) for the first ``big_s`` seconds."""
        return TrackFacts(5, "large", [TrackPoint(t / 4, 0.2 + t * 0.02, 0.6, 0.1, 0.12, 5.0 if t / 4 <= big_s else 0.9,
                                                  0.9, zones=("plaza",)) for t in range(13)], zones={"plaza": 3.0})

    rng = np.random.default_rng(0)
    # a camera where people walking together often stay merged into a vehicle-sized blob for up to ~2.5 s
    def norms(vehicle_s: np.ndarray) -> BlobNorms:
        # rows of blobs that were neither small objects nor person-sized: NaN but for these
        return BlobNorms(blob_rows(vehicle_s=vehicle_s, x=rng.uniform(0, 1, 300), y=rng.uniform(0.3, 1, 300)),
                         {"vehicle_size": 3.5, "still_speed": 0.25})

    crowded = norms(rng.uniform(0, 2.5, 300))
    quiet = norms(np.zeros(300))

    def confidence(big_s: float, norms: BlobNorms) -> float:
        found = {e.event_type: e for e in classify_scene(SceneFacts(0, 3, [blob(big_s)], blob_norms=norms), [plaza])}
        return found["vehicle"].confidence if "vehicle" in found else 0.0

    assert confidence(3.0, quiet) >= 0.8  # vehicle-sized the whole way across
    assert confidence(1.0, quiet) < 0.8  # a moment's merge, no more than the configured least (vehicle_s 1 s)
    assert confidence(3.0, crowded) < 0.8  # where merges that long are ordinary
    found = classify_scene(SceneFacts(0, 3, [blob(3.0)], blob_norms=quiet), [plaza])
    assert "vehicle-sized and moving for 3.0 s" in found[0].evidence
    other = BlobNorms(quiet.rows, {"vehicle_size": 5.0, "still_speed": 0.25})  # measured with another vehicle_size
    assert confidence(3.0, other) == pytest.approx(0.89)  # the fixed confidence of a vehicle-sized blob 3 s inside


def test_two_people_walking_on_together_are_not_fighting_and_two_in_one_spot_are() -> None:
    def pair(drift: float) -> list[TrackFacts]:
        # two people side by side, their steps jerky (velocity changes of ~1 body height/s)
        a = [(t / 8, 0.4 + drift * 0.12 * t / 8 + 0.01 * (t % 2), 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(24)]
        b = [(t / 8, 0.43 + drift * 0.12 * t / 8 - 0.01 * (t % 2), 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(24)]
        return [rule_track(a), TrackFacts(2, "person", [TrackPoint(*p) for p in b])]

    def types(tracks: list[TrackFacts]) -> set[str]:
        return {e.event_type for e in classify_scene(SceneFacts(0, 3, tracks))}

    assert "fighting" in types(pair(0.0))
    assert "fighting" not in types(pair(1.0))  # walking on at 1 body height per second


def test_a_fight_between_blobs_is_as_sure_as_its_time_close_lies_beyond_the_normal_passers_by() -> None:
    """Two erratic blobs close together in one spot for 2.9 s: sure where normal people pass each
    other in a moment; doubtful where normal blobs merge and split erratically for seconds. The
    yardstick is measured on normal blob tracks the way the rule measures."""
    from perception.track.norms import BLOB_FEATURES, BlobNorms

    a = [(t / 8, 0.4 + 0.01 * (t % 2), 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(24)]
    b = [(t / 8, 0.43 - 0.01 * (t % 2), 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(24)]
    fight = [rule_track(a), TrackFacts(2, "person", [TrackPoint(*p) for p in b])]
    s = RuleSettings()
    measured = {"fight_jitter": s.fight_jitter, "dwell_speed": s.dwell_speed}
    rng = np.random.default_rng(0)

    def norms(scuffle_s: np.ndarray) -> BlobNorms:
        rows = np.full((len(scuffle_s), len(BLOB_FEATURES)), np.nan, np.float32)
        rows[:, BLOB_FEATURES.index("scuffle_s")] = scuffle_s
        return BlobNorms(rows, measured)

    def fighting(blob_norms: BlobNorms) -> object:
        return {e.event_type: e for e in classify_scene(SceneFacts(0, 3, fight, blob_norms=blob_norms))}["fighting"]

    quiet = fighting(norms(np.concatenate([np.zeros(280), rng.uniform(0.0, 0.5, 20)])))
    assert quiet.confidence >= 0.8 and "normal people who come that close" in quiet.evidence
    assert fighting(norms(rng.uniform(0.0, 8.0, 300))).confidence < 0.8  # blobs that scuffle for seconds are normal here
    assert fighting(BlobNorms(norms(np.zeros(300)).rows, {**measured, "fight_jitter": 0.3})).confidence == 0.85

    # measured the same way: the pair scuffles for 2.9 s; two walking on together, or standing
    # together steadily, never do
    assert fight[0].scuffle_s(fight[1], s.fight_jitter, s.dwell_speed) == pytest.approx(2.875)
    walking = [rule_track([(t / 8, 0.4 + 0.12 * t / 8 + 0.01 * (t % 2), 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(24)]),
               rule_track([(t / 8, 0.43 + 0.12 * t / 8, 0.5, 0.04, 0.12, 1.0, 0.8) for t in range(24)])]
    steady = [rule_track([(t / 8, 0.4, 0.5, 0.04, 0.12, 1.0, 0.0) for t in range(24)]),
              rule_track([(t / 8, 0.43, 0.5, 0.04, 0.12, 1.0, 0.0) for t in range(24)])]
    for one, other in (walking, steady):
        assert one.scuffle_s(other, s.fight_jitter, s.dwell_speed) == 0.0


def test_a_fight_between_named_people_is_as_sure_as_its_time_close_lies_beyond_the_normal_crowds() -> None:
    """Two people the detector names, close together in one spot, both erratic, for 2.9 s: sure
    where normal boxes never jitter together that long; doubtful where a crowd's do. The
    yardstick is measured on the normal tracks the way the rule measures."""
    from perception.detect import GROUPS
    from perception.track.norms import NORM_FEATURES, TRACK_SETTINGS, TrackNorms
    from perception.track.scene import normal_track_evidence
    from perception.track.tracking import Observation, PersonScale, Track

    def named(track_id: int, x0: float, sign: float) -> TrackFacts:
        pts = [TrackPoint(t / 8, x0 + sign * 0.01 * (t % 2), 0.5, 0.04, 0.12, 1.0, 0.8, person_h=0.12) for t in range(24)]
        return TrackFacts(track_id, "person", pts, label="person")

    pair = [named(1, 0.4, 1.0), named(2, 0.43, -1.0)]
    s = RuleSettings()
    measured = {k: float(getattr(s, k)) for k in TRACK_SETTINGS}
    rng = np.random.default_rng(0)

    def fighting(scuffles: np.ndarray, settings: dict[str, float] = measured) -> object:
        norms = TrackNorms(np.zeros((0, len(NORM_FEATURES))), {"scuffles": scuffles}, settings)
        found = {e.event_type: e for e in classify_scene(SceneFacts(0, 3, pair, detected=True, norms=norms))}
        return found["fighting"]

    quiet = fighting(np.concatenate([np.zeros(280), rng.uniform(0.0, 0.5, 20)]))
    assert quiet.confidence >= 0.8 and "normal people who come that close" in quiet.evidence
    assert fighting(rng.uniform(0.0, 8.0, 300)).confidence < 0.8  # a crowd whose boxes jitter together for seconds
    assert fighting(np.zeros(300), {**measured, "fight_jitter": 0.3}).confidence == 0.85  # measured otherwise

    # measuring normal footage: two people the detector follows side by side, both boxes jerky,
    # in one spot for 3 s, scuffled that long; one walking past them at a distance never did
    def track(track_id: int, x: list[float]) -> Track:
        tr = Track(track_id)
        person = np.eye(len(GROUPS), dtype=np.float32)[GROUPS.index("person")]
        for i, xi in enumerate(x):
            tr.observations.append(Observation(i / 8, (xi - 0.02, 0.38, xi + 0.02, 0.5), 0.9, person, named=0))
        return tr

    a = track(1, [0.4 + 0.01 * (t % 2) for t in range(24)])
    b = track(2, [0.43 - 0.01 * (t % 2) for t in range(24)])
    walker = track(3, [0.1 + 0.02 * t for t in range(24)])
    scale = PersonScale(0.0, 0.12, 0.02, True)
    scuffles = normal_track_evidence([([a, b, walker], (360, 240))], ["person"], scale, **measured)["scuffles"]
    assert sorted(scuffles) == pytest.approx([0.0, 2.875, 2.875])


def test_a_fight_from_the_cells_measures_needs_someone_staying_there_and_no_car_driving_through() -> None:
    plaza = Zone(name="plaza", kind="pedestrian", polygon=((0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)))
    idx = {n: i for i, n in enumerate(FEATURES)}
    row = {"size": 3.0, "dwell": 0.4, "jitter": 0.3, "speed": 0.3}
    cells = CellSignals.from_features([{**{n: 0.0 for n in idx}, **row}] * 2, first_t=12.0)
    cell = (0.6, 0.125, 0.8, 0.375)  # where the road (y < 0.25) meets the plaza
    car = TrackFacts(3, "large", [TrackPoint(11 + t / 4, 0.95 - t * 0.06, 0.17, 0.2, 0.08, 7.0, 4.5) for t in range(16)])
    # a blob of two people staying at the cell
    pair = TrackFacts(4, "person", [TrackPoint(10 + t / 4, 0.7 + 0.005 * (t % 2), 0.3, 0.06, 0.1, 2.0, 0.3)
                                    for t in range(20)])
    # passers-by crossing the cell one after another, none staying
    passing = [TrackFacts(5 + k, "person", [TrackPoint(10 + k + t / 4, 0.55 + t * 0.02, 0.3, 0.03, 0.1, 1.0, 0.8)
                                            for t in range(12)]) for k in range(4)]

    def types(tracks: list[TrackFacts]) -> set[str]:
        return {e.event_type for e in classify_scene(SceneFacts(10, 15, tracks), [plaza], region=cell, cells=cells)}

    assert "fighting" in types([pair])  # the cell's measures, no vehicle there
    assert "fighting" not in types([pair, car])  # they were the car's
    assert "fighting" not in types(passing)  # the cell's dwell built up by people passing through
