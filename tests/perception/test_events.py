"""Events from window scores: hysteresis, rollback onset, minimum duration, ids, frame scores."""

from __future__ import annotations

import numpy as np

from perception.events import EventBuilder, ScoredWindow, frame_scores


def _windows(scores: list[float], stride: float = 1.0, span: float = 2.0) -> list[ScoredWindow]:
    return [ScoredWindow(i, i * stride, i * stride + span, s, s, (1, 2), (8, 10)) for i, s in enumerate(scores)]


def _run(scores: list[float], **kw) -> list:
    b = EventBuilder("lobby", "a.mp4", smooth=1, **kw)
    events = []
    for w in _windows(scores):
        events += b.push(w)
    return events + b.finish()


def test_onset_is_found_by_rolling_back_through_weaker_windows() -> None:
    # the score creeps up from window 5 and only crosses the threshold (0.5) at window 8
    scores = [0.05] * 5 + [0.35, 0.4, 0.45, 0.8, 0.9, 0.7, 0.4, 0.1, 0.05, 0.05]
    (event,) = _run(scores, threshold=0.5, low=0.3)
    # rolling back stops below half the crossing score (0.4): window 6, centred at 7 s; the
    # event starts half a stride before it
    assert event.start_s == 6.5
    assert event.end_s == 12.5  # window 11 (centre 12 s) was the last above low
    assert event.peak_score == 0.9 and event.peak_time_s == 10.0


def test_hysteresis_bridges_short_dips_and_short_blips_are_dropped() -> None:
    scores = [0.05] * 3 + [0.8, 0.8, 0.1, 0.8, 0.8] + [0.05] * 6
    (event,) = _run(scores, threshold=0.5, low=0.3, max_gap_s=1.5)
    assert event.start_s == 3.5 and event.end_s == 8.5
    assert _run([0.05] * 3 + [0.9] + [0.05] * 3, threshold=0.5, min_event_s=2.0) == []
    assert _run([0.2] * 10, threshold=0.5) == []


def test_event_ids_are_deterministic_per_camera_source_and_onset() -> None:
    scores = [0.05] * 3 + [0.9] * 4 + [0.05] * 3
    a = _run(scores, threshold=0.5)[0]
    b = _run(scores, threshold=0.5)[0]
    assert a.event_id == b.event_id and a.event_id.startswith("lobby-")
    c = EventBuilder("lobby", "b.mp4", smooth=1, threshold=0.5)
    other = [e for w in _windows(scores) for e in c.push(w)] + c.finish()
    assert other[0].event_id != a.event_id


def test_smoothing_delays_but_keeps_every_window() -> None:
    b = EventBuilder("lobby", "a.mp4", smooth=3, threshold=0.5)
    events = []
    for w in _windows([0.05] * 4 + [0.9] * 5 + [0.05] * 4):
        events += b.push(w)
    events += b.finish()
    assert len(events) == 1 and 3.0 <= events[0].start_s <= 5.0


def test_frame_scores_interpolate_window_centres() -> None:
    windows = _windows([0.0, 1.0, 0.0])  # centres at 1, 2, 3 s
    times = np.array([0.0, 1.0, 1.5, 2.0, 3.0, 4.0])
    assert frame_scores(windows, times, smooth=1).tolist() == [0.0, 0.0, 0.5, 1.0, 0.0, 0.0]


def test_an_event_opened_by_a_zone_rule_reaches_back_to_the_entry() -> None:
    from perception.events import ZoneRuleHit

    # quiet windows, then a restricted zone's floor from window 5; the zone was entered at 2 s
    hit = ZoneRuleHit("keep-out", "restricted", 2.0, 7.0, 0.9, 0.05, since_s=2.0)
    windows = [ScoredWindow(i, float(i), i + 2.0, 0.05, 0.9 if i >= 5 else 0.05, (1, 2), (8, 10),
                            zone_rules=(hit,) if i >= 5 else ()) for i in range(12)]
    b = EventBuilder("lobby", "a.mp4", smooth=1, threshold=0.5)
    events = [e for w in windows for e in b.push(w)] + b.finish()
    assert len(events) == 1 and events[0].start_s == 1.5  # the window centred on the entry; not 5.5
    plain = EventBuilder("lobby", "a.mp4", smooth=1, threshold=0.5)
    quiet = [ScoredWindow(w.index, w.ts_start, w.ts_end, w.raw, w.score, w.cell, w.grid) for w in windows]
    assert ([e for w in quiet for e in plain.push(w)] + plain.finish())[0].start_s == 5.5
