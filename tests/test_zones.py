"""Zone rules in the score: time inside restricted and loitering zones raises exactly those frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from perception.events import ScoredWindow, ZoneRuleHit, frame_scores
from perception.zones import ZoneOccupancy
from vigil.cli import main
from vigil.config import DetectionConfig, Zone
from vigil.schemas import load_ground_truth

KEEP_OUT = Zone(name="keep-out", kind="restricted", polygon=((0.5, 0.5), (0.7, 0.5), (0.7, 0.7), (0.5, 0.7)))
KIOSK = Zone(name="kiosk", kind="loitering", polygon=((0.0, 0.5), (0.2, 0.5), (0.2, 0.7), (0.0, 0.7)))
WALKWAY = Zone(name="walkway", kind="pedestrian", polygon=((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)))


def _feet(points_at: dict[float, list[tuple[float, float]]]) -> list[tuple[float, np.ndarray]]:
    return [(t, np.array(p, np.float32).reshape(-1, 2)) for t, p in sorted(points_at.items())]


def _run(occ: ZoneOccupancy, feet: list[tuple[float, np.ndarray]], until: float) -> dict[float, list]:
    """The rules that held per window (2 s, a new one each second), as a user's scan sees them."""
    return {t0: occ.update(feet, t0, t0 + 2.0) for t0 in np.arange(0.0, until, 1.0)}


def test_restricted_zone_rule_holds_from_entry_and_a_passing_step_does_not_count() -> None:
    det = DetectionConfig(intrusion_s=1.0, loiter_s=6.0, track_lost_s=1.5)
    occ = ZoneOccupancy.for_camera([KEEP_OUT, KIOSK, WALKWAY], det)
    assert occ is not None and [z.name for z in occ.zones] == ["keep-out", "kiosk"]
    # someone outside, then inside from 5.0 s to 8.0 s at one look a second; a foot in at 12 s only
    inside = {t: [(0.9, 0.9), (0.6, 0.6)] for t in (5.0, 6.0, 7.0, 8.0)}
    feet = _feet({**{t: [(0.9, 0.9)] for t in np.arange(0.0, 15.0)}, **inside, 12.0: [(0.6, 0.6)]})
    held = _run(occ, feet, 14.0)
    spans = {(round(a, 1), round(b, 1)) for hits in held.values() for zone, a, b in hits}
    assert spans == {(5.0, 6.0), (5.0, 7.0), (5.0, 8.0)}  # from the entry, growing as they stay
    assert not held[0.0] and not held[10.0] and not held[11.0] and not held[12.0]
    assert ZoneOccupancy.for_camera([WALKWAY], det) is None


def test_loitering_rule_holds_once_the_stay_lasted_loiter_s_and_bridges_short_gaps() -> None:
    det = DetectionConfig(intrusion_s=1.0, loiter_s=6.0, track_lost_s=1.5)
    occ = ZoneOccupancy.for_camera([KIOSK], det)
    # in the kiosk zone from 2 s to 12 s, unseen at 6 s (one look missed them)
    stay = {t: [(0.1, 0.6)] for t in np.arange(2.0, 12.5, 1.0) if t != 6.0}
    held = _run(occ, _feet(stay), 14.0)
    starts = {round(a, 1) for hits in held.values() for _z, a, _b in hits}
    assert starts == {8.0} and max(b for hits in held.values() for _z, _a, b in hits) == 12.0
    assert not any(held[t] for t in (0.0, 3.0, 5.0))
    # a longer gap starts the stay again: 2-5 s and 8-11 s are two short stays
    occ.reset()
    split = {t: [(0.1, 0.6)] for t in (2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0)}
    assert not any(_run(occ, _feet(split), 14.0).values())


def test_a_rule_floor_raises_exactly_its_frames() -> None:
    base = 0.1
    hit = ZoneRuleHit("keep-out", "restricted", 5.0, 8.0, 0.9, base)
    windows = [ScoredWindow(i, float(i), i + 2.0, base, 0.9 if 4 <= i <= 7 else base, (0, 0), (8, 10),
                            zone_rules=(hit,) if 4 <= i <= 7 else ()) for i in range(15)]
    times = np.arange(0.0, 16.0, 0.5)
    scores = frame_scores(windows, times)
    inside = (times >= 5.0) & (times <= 8.0)
    assert np.all(scores[inside] == 0.9) and np.allclose(scores[~inside], base)


def test_score_with_zones_marks_the_intrusion_and_nothing_before_it(synth_small: Path, fitted_camera: tuple[Path, Path],
                                                                    tmp_path: Path) -> None:
    shutil.copytree(fitted_camera[0] / "plaza" / "profile", tmp_path / "plaza" / "profile")
    video = next((synth_small / "test").glob("*_intrusion.mp4"))
    out = tmp_path / "intrusion.csv"
    assert main(["--config", str(synth_small / "vigil.yaml"), "--data-dir", str(tmp_path), "score", str(video),
                 "--camera", "plaza", "--out", str(out)]) == 0
    truth = load_ground_truth(synth_small / "gt.json")[video.stem]
    labels = np.asarray(truth.labels)
    scores = np.array([float(r.split(",")[2]) for r in out.read_text().splitlines()[1:]])
    floor = DetectionConfig().zone_score
    onset = int(np.argmax(labels))
    # measured: the later half of the labelled frames (the rest is the walk up to the zone's
    # edge, which this 160x120 camera's blobs place outside it); without zones none of them
    assert (scores[labels == 1] >= floor).mean() >= 0.4
    assert scores[: max(0, onset - int(2 * truth.fps))].max() < floor
