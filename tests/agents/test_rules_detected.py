"""Type rules on detector tracks, calibrated against the camera's normal tracks."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import blob_rows

from agents.rules import CellSignals, RuleSettings, classify_scene
from perception.track.scene import SceneFacts, TrackFacts, TrackPoint
from vigil.core.config import Zone

WALKWAY = Zone(name="walkway", kind="pedestrian", polygon=((0.0, 0.42), (1.0, 0.42), (1.0, 1.0), (0.0, 1.0)))
CLASSES = ("person", "bicycle")


def _norms(n: int = 60) -> object:
    """Normal people on the walkway: mostly person, a wheeled probability up to about 0.2 (the
    detector's occasional mistake), walking at 0.3-0.7 body heights per second."""
    from perception.track.norms import NORM_FEATURES, TrackNorms

    rng = np.random.default_rng(0)
    rows = np.zeros((n, len(NORM_FEATURES)), np.float32)
    col = {name: i for i, name in enumerate(NORM_FEATURES)}
    rows[:, col["p_wheeled"]] = rng.exponential(0.03, n).clip(0, 0.2)
    rows[:, col["p_person"]] = 0.7
    rows[:, col["speed"]] = rng.uniform(0.3, 0.7, n)
    rows[:, col["duration_s"]] = 8.0
    rows[:, col["x"]], rows[:, col["y"]] = rng.uniform(0.1, 0.9, n), rng.uniform(0.5, 0.9, n)
    return TrackNorms(rows)


def _object_track(track_id: int, p_wheeled: float, bicycle_looks: int, looks: int = 40, speed: float = 0.02) -> object:
    """A detector track crossing the walkway at 8 looks per second; the first ``bicycle_looks``
    looks name it a bicycle (the rest a person)."""
    from perception.detect import GROUPS
    from perception.track.tracking import Observation, Track

    groups = np.zeros(len(GROUPS), np.float32)
    groups[GROUPS.index("person")], groups[GROUPS.index("wheeled")] = 0.5, p_wheeled
    tr = Track(track_id, first_t=0.0)
    for i in range(looks):
        x = 0.1 + speed * i
        tr.observations.append(Observation(i / 8, (x, 0.5, x + 0.05, 0.65), 0.6, groups, named=1 if i < bicycle_looks else 0))
    return tr


def test_calibration_puts_the_normal_median_low_and_its_far_tail_at_one_half() -> None:
    from perception.track.norms import TailCalibration

    normal = np.random.default_rng(1).exponential(1.0, 500)
    cal = TailCalibration.fit(normal)
    assert abs(cal(np.median(normal)) - 0.05) < 1e-6
    assert 5.0 < cal.high < 9.0  # an exponential's 99.9th percentile is ln(1000) = 6.9
    assert cal(cal.high) == 0.5 and cal(2 * cal.high) > 0.95 > cal(np.quantile(normal, 0.99))


def test_a_bicycle_the_detector_names_on_the_walkway_is_a_vehicle_in_its_words() -> None:
    from perception.track.scene import DetectedObjects, SceneFacts, combine_facts, object_facts
    from perception.track.tracking import PersonScale

    norms = _norms()
    rider = _object_track(1, p_wheeled=0.6, bicycle_looks=30)
    walker = _object_track(2, p_wheeled=0.12, bicycle_looks=12)  # called a bicycle now and then, as normal people are
    objects = DetectedObjects.snapshot([rider, walker], CLASSES, PersonScale(0.0, 0.15, 0.02, True), (360, 240), norms)
    facts = {f.track_id: f for f in object_facts(objects, [WALKWAY])}
    assert (facts[1].label, facts[1].kind) == ("bicycle", "large")
    assert (facts[2].label, facts[2].kind) == ("person", "person")
    found = {e.event_type: e for e in classify_scene(combine_facts(SceneFacts(0, 5), list(facts.values()), norms), [WALKWAY])}
    vehicle = found["vehicle"]
    assert vehicle.confidence >= 0.8 and vehicle.track_id == 1 and vehicle.start_s == 0.0
    assert "a bicycle" in vehicle.evidence and "'walkway'" in vehicle.evidence and "body heights/s" in vehicle.evidence
    # the same bicycle on a camera whose normal footage is full of wheeled things is not unusual there
    from perception.track.norms import NORM_FEATURES, TrackNorms

    busy = TrackNorms(norms.rows.copy())
    busy.rows[:, NORM_FEATURES.index("p_wheeled")] += 0.5
    named = combine_facts(SceneFacts(0, 5), object_facts(DetectedObjects.snapshot([rider], CLASSES, objects.scale,
                                                                                 objects.frame_size, busy), [WALKWAY]), busy)
    assert all(e.confidence < 0.8 for e in classify_scene(named, [WALKWAY]) if e.event_type == "vehicle")


def test_blob_tracks_a_named_object_explains_are_left_out() -> None:
    from perception.track.scene import DetectedObjects, SceneFacts, combine_facts, object_facts
    from perception.track.tracking import PersonScale

    objects = DetectedObjects.snapshot([_object_track(1, 0.6, 30)], CLASSES, PersonScale(0.0, 0.15, 0.02, True), (360, 240))
    named = object_facts(objects, [WALKWAY])
    same = TrackFacts(7, "person", [TrackPoint(i / 8, 0.125 + 0.02 * i, 0.64, 0.05, 0.15, 1.0, 0.5) for i in range(40)])
    other = TrackFacts(8, "large", [TrackPoint(i / 8, 0.8, 0.9, 0.1, 0.1, 5.0, 0.5) for i in range(40)])
    facts = combine_facts(SceneFacts(0, 5, [same, other]), named)
    assert facts.detected and sorted(t.track_id for t in facts.tracks) == [1, 8]


def test_a_detected_person_who_drops_toward_the_camera_and_stays_down_has_fallen() -> None:
    """Seen from the front a fall shortens the box without widening it: height, not shape."""

    def person(heights: list[float], step: float = 0.0) -> TrackFacts:
        pts = [TrackPoint(i / 8, 0.5 + step * i, 0.7, 0.05, h, 1.0, 0.0, person_h=0.2) for i, h in enumerate(heights)]
        for a, b in zip(pts, pts[1:]):
            b.speed = abs(b.x - a.x) * 4 / 3 * 8 / 0.2
        return TrackFacts(3, "person", pts, label="person")

    fell = person([0.2] * 16 + [0.07] * 24)
    found = {e.event_type: e for e in classify_scene(SceneFacts(0, 5, [fell], detected=True), [])}
    assert found["falling"].confidence >= 0.8 and found["falling"].start_s == 1.5
    assert "height dropped" in found["falling"].evidence
    crouch = person([0.2] * 16 + [0.07] * 6 + [0.2] * 18)  # down and up again at once: no fall
    walks_behind = person([0.2] * 16 + [0.07] * 24, step=0.03)  # hidden below the knees while walking on
    for track in (crouch, walks_behind):
        assert "falling" not in {e.event_type for e in classify_scene(SceneFacts(0, 5, [track], detected=True), [])}


def test_a_height_drop_fall_is_as_sure_as_its_time_down_lies_beyond_the_normal_crowds() -> None:
    """A fall seen as a height drop: sure on a camera where normal people never look that short
    for long; doubtful where crowds hide people below the knees for seconds. The yardstick is
    measured on normal tracks the way the rule measures (a person hidden for a moment, then whole)."""
    from perception.track.norms import NORM_FEATURES, TRACK_SETTINGS, TrackNorms
    from perception.track.scene import normal_track_evidence
    from perception.track.tracking import Observation, PersonScale, Track

    def person(heights: list[float]) -> TrackFacts:
        pts = [TrackPoint(i / 8, 0.5, 0.7, 0.05, h, 1.0, 0.0, person_h=0.2) for i, h in enumerate(heights)]
        return TrackFacts(3, "person", pts, label="person")

    fell = SceneFacts(0, 6, [person([0.2] * 16 + [0.07] * 32)], detected=True)  # down for 3.9 s
    s = RuleSettings()
    measured = {k: float(getattr(s, k)) for k in TRACK_SETTINGS}
    rng = np.random.default_rng(0)

    def confidence(drops: np.ndarray, settings: dict[str, float] = measured) -> float:
        fell.norms = TrackNorms(np.zeros((0, len(NORM_FEATURES))), {"drops": drops}, settings)
        found = {e.event_type: e for e in classify_scene(fell, [])}
        return found["falling"].confidence if "falling" in found else 0.0

    quiet = np.concatenate([np.zeros(280), rng.uniform(0.0, 0.8, 20)])  # hidden for a moment now and then
    assert confidence(quiet) >= 0.8
    assert "normal people" in {e.event_type: e for e in classify_scene(fell, [])}["falling"].evidence
    assert confidence(rng.uniform(0.0, 8.0, 300)) < 0.8  # a crowd that hides people for seconds
    assert confidence(rng.uniform(0.0, 8.0, 300), {**measured, "fallen_height": 0.3}) == 0.85  # measured otherwise

    # measuring normal footage: a person hidden below the knees for 1 s, then whole again, looked
    # fallen for about that long; one walking by whole never did
    def track(track_id: int, heights: list[float]) -> Track:
        tr = Track(track_id)
        person = np.eye(6, dtype=np.float32)[0]
        for i, h in enumerate(heights):
            tr.observations.append(Observation(i / 8, (0.48, 0.7 - h, 0.52, 0.7), 0.9, person, named=0))
        return tr

    hidden = track(1, [0.2] * 16 + [0.07] * 9 + [0.2] * 16)
    whole = track(2, [0.2] * 40)
    scale = PersonScale(0.0, 0.2, 0.02, True)
    drops = normal_track_evidence([([hidden, whole], (360, 240))], ["person"], scale, **measured)["drops"]
    assert sorted(np.round(drops, 2)) == [0.0, 1.0]


def test_a_runner_the_scorer_flagged_in_some_window_is_running_though_a_car_peaked_elsewhere() -> None:
    runner = TrackFacts(9, "person", [TrackPoint(17 + t / 8, 0.9 - t * 0.03, 0.4, 0.03, 0.1, 1.0, 2.4, person_h=0.1)
                                      for t in range(28)])
    car_cell = (0.04, 0.15, 0.13, 0.16)
    facts = SceneFacts(15, 22, [runner])
    assert "running" not in {e.event_type for e in classify_scene(facts, [], region=car_cell)}
    found = {e.event_type: e for e in classify_scene(facts, [], region=car_cell, reach=(0.04, 0.15, 0.6, 0.45))}
    assert found["running"].confidence >= 0.8 and found["running"].start_s is not None
    assert 17.0 <= found["running"].start_s <= 17.5


def test_a_runner_who_keeps_the_pace_is_running_though_the_unusual_cell_was_a_slow_car() -> None:
    car_cell = CellSignals(speed=0.3, size=9.0, windows=3, first_t=17.0)  # the peak cell: a car, its speed not the runner's
    runner = TrackFacts(9, "person", [TrackPoint(17 + t / 8, 0.9 - t * 0.03, 0.4, 0.03, 0.1, 1.0, 2.4, person_h=0.1)
                                      for t in range(28)])
    found = {e.event_type for e in classify_scene(SceneFacts(15, 22, [runner]), [], cells=car_cell)}
    assert "running" in found
    brief = TrackFacts(9, "person", runner.points[:13])  # 1.5 s at that pace: the cell must agree
    assert "running" not in {e.event_type for e in classify_scene(SceneFacts(15, 22, [brief]), [], cells=car_cell)}


def test_a_walker_whose_blob_merges_with_a_passing_car_is_not_running() -> None:
    walk = [TrackPoint(12 + t / 8, 0.14 + t * 0.004, 0.42, 0.03, 0.1, 1.0, 0.6, person_h=0.1) for t in range(28)]
    merged = [TrackPoint(15.5 + t / 8, 0.25 + t * 0.05, 0.2, 0.2, 0.1, 6.0 + t, 5.0, person_h=0.08) for t in range(12)]
    facts = SceneFacts(12, 17, [TrackFacts(5, "person", walk + merged)])
    cells = CellSignals(speed=1.0, size=1.0, windows=3, first_t=15.5)  # agrees with a run, were there one
    assert "running" not in {e.event_type for e in classify_scene(facts, [], cells=cells)}


def test_a_strip_of_a_cars_blob_that_splits_off_under_it_is_no_runner_but_a_runner_beside_the_road_is() -> None:
    # a car drives along the road; the strip of shadow under it splits off as a blob of a person's area
    car = TrackFacts(1, "large", [TrackPoint(3 + t / 8, 0.95 - t * 0.03, 0.142, 0.2, 0.09, 7.0, 4.0, person_h=0.06)
                                  for t in range(24)])
    strip = TrackFacts(2, "person", [TrackPoint(3 + t / 8, 0.95 - t * 0.03, 0.167, 0.16, 0.017, 0.8, 4.0, person_h=0.06)
                                     for t in range(24)])
    assert "running" not in {e.event_type for e in classify_scene(SceneFacts(2, 7, [car, strip]), [])}
    # someone running along the pavement below at the same time is running
    runner = TrackFacts(3, "person", [TrackPoint(3 + t / 8, 0.95 - t * 0.02, 0.45, 0.03, 0.1, 1.0, 2.4, person_h=0.1)
                                      for t in range(24)])
    assert "running" in {e.event_type for e in classify_scene(SceneFacts(2, 7, [car, runner]), [])}


def test_without_zones_a_person_loiters_when_they_stay_far_longer_than_the_cameras_normal_people() -> None:
    from perception.track.norms import NORM_FEATURES, TrackNorms

    norms = _norms()  # normal people stay 8 s
    stayer = TrackFacts(4, "person", [TrackPoint(150 + t, 0.5, 0.7, 0.05, 0.15, 1.0, 0.1) for t in range(10)],
                        label="person", since_t=0.0)
    found = {e.event_type: e for e in classify_scene(SceneFacts(150, 160, [stayer], detected=True, norms=norms), [])}
    assert found["loitering"].confidence >= 0.8 and found["loitering"].start_s == 0.0
    assert "159 s" in found["loitering"].evidence
    # where normal people stay for minutes (a bus stop), the same stay is ordinary
    stop = TrackNorms(norms.rows.copy())
    stop.rows[:, NORM_FEATURES.index("duration_s")] = np.linspace(60, 400, len(stop.rows))
    usual = classify_scene(SceneFacts(150, 160, [stayer], detected=True, norms=stop), [])
    assert all(e.confidence < 0.8 for e in usual if e.event_type == "loitering")


def test_a_detected_runner_is_measured_against_the_speeds_of_the_cameras_normal_people() -> None:
    from perception.track.norms import NORM_FEATURES, TrackNorms

    pts = [TrackPoint(t / 8, 0.1 + t * 0.0375, 0.7, 0.05, 0.15, 1.0, 2.5, person_h=0.15) for t in range(24)]
    stats = np.zeros(len(NORM_FEATURES), np.float32)
    stats[NORM_FEATURES.index("p_person")], stats[NORM_FEATURES.index("speed")] = 0.8, 2.5
    runner = TrackFacts(6, "person", pts, label="person", stats=stats)
    norms = _norms()  # normal people walk at 0.3-0.7 body heights/s
    found = {e.event_type: e for e in classify_scene(SceneFacts(0, 3, [runner], detected=True, norms=norms), [])}
    assert found["running"].confidence >= 0.8 and "normal people stay under" in found["running"].evidence
    joggers = TrackNorms(norms.rows.copy())  # a running track: everyone here runs
    joggers.rows[:, NORM_FEATURES.index("speed")] += 2.0
    usual = classify_scene(SceneFacts(0, 3, [runner], detected=True, norms=joggers), [])
    assert all(e.confidence < 0.8 for e in usual if e.event_type == "running")


def test_vehicles_one_after_another_in_a_pedestrian_zone_began_with_the_first() -> None:
    plaza = Zone(name="plaza", kind="pedestrian", polygon=((0.0, 0.3), (1.0, 0.3), (1.0, 1.0), (0.0, 1.0)))

    def cart(track_id: int, t0: float, n: int) -> TrackFacts:
        return TrackFacts(track_id, "large", [TrackPoint(t0 + k / 4, 0.1 + k * 0.02, 0.6, 0.12, 0.1, 5.0, 0.8,
                                                         zones=("plaza",)) for k in range(n)],
                          zones={"plaza": (n - 1) / 4})

    # a first cart crosses for 3 s; a second, seen longer (the stronger evidence), comes 4 s later
    found = {e.event_type: e for e in classify_scene(SceneFacts(0, 14, [cart(1, 2.0, 13), cart(2, 6.0, 25)]), [plaza])}
    assert found["vehicle"].track_id == 2
    assert found["vehicle"].start_s == pytest.approx(2.0)


def test_a_running_blob_is_as_sure_as_its_pace_lies_beyond_the_cameras_normal_person_blobs() -> None:
    from perception.track.norms import BlobNorms

    # a blob crossing at 0.24 frame widths/s, a person 0.1 tall: 2.4 body heights/s for 3.4 s
    runner = TrackFacts(9, "person", [TrackPoint(17 + t / 8, 0.9 - t * 0.03, 0.4, 0.03, 0.1, 1.0, 2.4, person_h=0.1)
                                      for t in range(28)])
    rng = np.random.default_rng(4)

    def confidence(speeds: np.ndarray | None, measured: dict[str, float] | None = None) -> float:
        norms = None
        if speeds is not None:
            rows = blob_rows(speed=speeds, x=np.full(len(speeds), 0.5), y=np.full(len(speeds), 0.5))
            norms = BlobNorms(rows, measured if measured is not None else {"group_size": 2.5})
        found = {e.event_type: e for e in classify_scene(SceneFacts(15, 22, [runner], blob_norms=norms), [])}
        return found["running"].confidence if "running" in found else 0.0

    walkers = rng.normal(0.8, 0.12, 400)  # people walk at about 0.8 body heights/s here
    assert confidence(walkers) >= 0.9
    # where split and merged blobs often look that fast, the same pace says less
    jumpy = np.concatenate([walkers[:300], rng.uniform(1.5, 3.5, 100)])
    assert confidence(jumpy) < 0.8
    # without norms, or measured with another group size: the fixed confidence
    assert confidence(None) == confidence(walkers, {"group_size": 4.0}) >= 0.8
    found = classify_scene(SceneFacts(15, 22, [runner], blob_norms=BlobNorms(
        blob_rows(speed=walkers, x=np.full(400, 0.5), y=np.full(400, 0.5)), {"group_size": 2.5})), [])
    assert "normal people keep under" in found[0].evidence
