"""From window scores to candidate events: smoothing, hysteresis, minimum duration, rollback.

A window where a tripwire fired (:mod:`perception.score.tripwires`: someone running, a vehicle
where vehicles never go) counts as at least ``TRIPWIRE_SCORE`` for event detection; its own
score is left as it is. Scores are smoothed with a centred moving average over ``smooth`` windows (so the builder
runs ``smooth // 2`` windows behind the video). An event opens when the smoothed score reaches
``threshold`` and stays open while it is at least ``low`` (hysteresis), tolerating dips of up
to ``max_gap_s``. Its onset is found by rolling back from the window that crossed the
threshold through the stored windows while they were at least ``low``: the moment an anomaly
*became* visible, not the moment the detector was sure; an event opened by a zone rule
(:mod:`perception.track.zones`) reaches back at least to when the zone's occupancy began. Events
shorter than ``min_event_s`` are dropped.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ZoneRuleHit:
    """A camera zone rule that held during a window (see :mod:`perception.track.zones`)."""

    zone: str       # the zone's name ("" for a left object)
    kind: str       # restricted | loitering | left_object (perception.track.zones.LeftObjects)
    start_s: float  # from when the rule held (a restricted zone's from the entry: may lie before the window)
    end_s: float    # until when (the last time someone was seen there)
    floor: float    # the score the window was raised to (detection.zone_score)
    before: float   # the window's score before that
    box: tuple[float, float, float, float] | None = None  # who was there (normalised xyxy)
    since_s: float | None = None  # when the occupancy began: an event it opens reaches back to it


@dataclass
class ScoredWindow:
    """One window after scoring.

    Attributes:
        raw: the normality model's raw score (units of held-out normal windows).
        score: calibrated to [0, 1] and passed through the Engram gate.
        cell: (row, col) of the most unusual cell, on a ``grid`` of cells.
        key: the Engram n-gram key of the window (``None`` without a memory).
        types: anomaly-type probabilities from the type head, if the camera has one.
        features: the most unusual cell's features by name (encoders with named features).
        box: the most unusual object's box (normalised) when the object level decided the
            score; the region is then that box rather than the cell.
        objects: the objects scored in this window (track id, class group, level, box).
        zone_rules: the camera's zone rules that held in the window; ``score`` is then at least
            their floor.
    """

    index: int
    ts_start: float
    ts_end: float
    raw: float
    score: float
    cell: tuple[int, int]
    grid: tuple[int, int]
    key: int | None = None
    types: dict[str, float] | None = None
    ungated: float | None = None
    features: dict[str, float] | None = None  # the unusual cell's named features, if any
    trigger: str | None = None  # a tripwire that fired in this window (see perception.score.tripwires)
    vector: np.ndarray | None = field(default=None, repr=False)  # the clip embedding
    box: tuple[float, float, float, float] | None = None
    objects: list[dict] | None = field(default=None, repr=False)
    zone_rules: tuple[ZoneRuleHit, ...] = ()

    @property
    def center(self) -> float:
        """Midpoint in seconds."""
        return 0.5 * (self.ts_start + self.ts_end)

    def region(self) -> tuple[float, float, float, float]:
        """Where the window is most unusual, as a normalised ``(x1, y1, x2, y2)`` box: the
        object that decided the score, else the most unusual cell."""
        if self.box is not None:
            x1, y1, x2, y2 = self.box
            return (max(0.0, x1), max(0.0, y1), min(1.0, x2), min(1.0, y2))
        r, c = self.cell
        rows, cols = self.grid
        return (c / cols, r / rows, (c + 1) / cols, (r + 1) / rows)


@dataclass
class CandidateEvent:
    """A stretch of unusual windows, the unit the agents reason about."""

    camera_id: str
    source: str
    start_s: float
    end_s: float
    peak_score: float
    peak_time_s: float
    windows: list[ScoredWindow] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)  # the smoothed score of each window
    content_id: str = ""  # the source's content identity (see perception.source.video.SourceId)

    @property
    def event_id(self) -> str:
        """Deterministic id from camera, source (and its content) and onset (a restarted run gets the same)."""
        ident = self.source + (f"#{self.content_id}" if self.content_id else "")
        digest = hashlib.sha1(ident.encode("utf-8")).hexdigest()[:6]
        return f"{self.camera_id}-{digest}-{int(round(self.start_s * 10)):07d}"

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.end_s - self.start_s

    @property
    def peak_window(self) -> ScoredWindow:
        """The window with the highest score."""
        return max(self.windows, key=lambda w: w.score)

    def region(self, share: float = 0.5) -> tuple[float, float, float, float]:
        """Union of the unusual cells of the event's strong windows (``share`` of its peak score
        or more; 0: every window), normalised ``x1, y1, x2, y2``."""
        strong = [w for w in self.windows if w.score >= share * self.peak_score] or self.windows
        boxes = np.array([w.region() for w in strong])
        return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))


TRIPWIRE_SCORE = 0.6


def event_score(window: ScoredWindow) -> float:
    """What event detection uses: the score, raised to ``TRIPWIRE_SCORE`` when a tripwire fired."""
    return max(window.score, TRIPWIRE_SCORE) if window.trigger else window.score


def smooth_scores(values: Sequence[float], k: int) -> np.ndarray:
    """Centred moving average over ``k`` windows, edges padded with their own values."""
    v = np.asarray(values, dtype=np.float64)
    if k <= 1 or v.size == 0:
        return v.copy()
    half = k // 2
    padded = np.pad(v, half, mode="edge")
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")


def frame_scores(windows: Sequence[ScoredWindow], times: np.ndarray, smooth: int = 3) -> np.ndarray:
    """One score per source frame: smoothed window scores interpolated at window centres.

    A zone rule's floor (:class:`ZoneRuleHit`) is not smoothed into the neighbouring windows: it
    raises exactly the frames of the event the rule opens, from the occupancy's beginning
    (``since_s``: the entry, the start of the lingering) to the last moment someone was seen there.
    """
    times = np.asarray(times, dtype=np.float64)
    if not windows:
        return np.zeros(times.size)
    centres = np.array([w.center for w in windows])
    values = smooth_scores([min((h.before for h in w.zone_rules), default=w.score) for w in windows], smooth)
    out = np.interp(times, centres, values)
    for w in windows:
        for hit in w.zone_rules:
            began = hit.start_s if hit.since_s is None else min(hit.start_s, hit.since_s)
            inside = (times >= began - 1e-6) & (times <= hit.end_s + 1e-6)
            out[inside] = np.maximum(out[inside], hit.floor)
    return np.clip(out, 0.0, 1.0)


class EventBuilder:
    """Streaming event detection over scored windows (see the module docstring).

    Args:
        camera_id, source: recorded on the events.
        content_id: the source's content identity, part of the event ids.
        threshold: smoothed score that opens an event.
        low: score an open event must keep (default ``0.6 * threshold``).
        min_event_s: shorter events are dropped.
        max_gap_s: dips below ``low`` shorter than this do not close an event.
        smooth: windows in the centred moving average.
        history: windows kept for rollback.
    """

    def __init__(
        self,
        camera_id: str,
        source: str,
        *,
        threshold: float = 0.5,
        low: float | None = None,
        min_event_s: float = 1.0,
        max_gap_s: float = 2.0,
        smooth: int = 3,
        history: int = 240,
        content_id: str = "",
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.camera_id = camera_id
        self.source = source
        self.content_id = content_id
        self.threshold = threshold
        self.low = 0.6 * threshold if low is None else low
        self.min_event_s = min_event_s
        self.max_gap_s = max_gap_s
        self.smooth = max(1, smooth)
        self._pending: deque[ScoredWindow] = deque()  # raw windows awaiting their smoothed value
        self._raw: deque[float] = deque(maxlen=2 * (self.smooth // 2) + 1)
        self._history: deque[tuple[ScoredWindow, float]] = deque(maxlen=history)
        self._open: list[tuple[ScoredWindow, float]] | None = None
        self._last_strong: float | None = None
        self._stride_s: float | None = None
        self._last_start: float | None = None

    def push(self, window: ScoredWindow) -> list[CandidateEvent]:
        """Add the next window; returns the events that closed."""
        if self._last_start is not None and self._stride_s is None and window.ts_start > self._last_start:
            self._stride_s = window.ts_start - self._last_start
        self._last_start = window.ts_start
        half = self.smooth // 2
        if not self._raw:
            for _ in range(half):  # left edge padding with the first value
                self._raw.append(event_score(window))
        self._raw.append(event_score(window))
        self._pending.append(window)
        if len(self._pending) <= half:
            return []
        target = self._pending.popleft()
        return self._step(target, float(np.mean(self._raw)))

    def finish(self) -> list[CandidateEvent]:
        """Flush the windows still waiting for their smoothed value and close any open event."""
        closed: list[CandidateEvent] = []
        half = self.smooth // 2
        while self._pending:
            last = self._raw[-1] if self._raw else 0.0
            self._raw.append(last)  # right edge padding
            target = self._pending.popleft()
            closed += self._step(target, float(np.mean(list(self._raw)[-(2 * half + 1):])))
        if self._open:
            event = self._close()
            if event:
                closed.append(event)
        return closed

    def _step(self, window: ScoredWindow, smoothed: float) -> list[CandidateEvent]:
        closed: list[CandidateEvent] = []
        self._history.append((window, smoothed))
        if self._open is not None:
            if smoothed >= self.low:
                self._open.append((window, smoothed))
                self._last_strong = window.center
            elif self._last_strong is not None and window.center - self._last_strong <= self.max_gap_s:
                self._open.append((window, smoothed))
            else:
                event = self._close()
                if event:
                    closed.append(event)
        if self._open is None and smoothed >= self.threshold:
            # roll back through the stored windows while they were already unusual
            # (the half-maximum bound keeps a strong event from reaching back through merely
            # restless windows before it)
            floor = max(self.low, 0.5 * smoothed)
            # a zone rule knows when it began (the entry, the start of the lingering): back to there
            began = min((h.since_s for h in window.zone_rules if h.since_s is not None), default=None)
            members: list[tuple[ScoredWindow, float]] = []
            for past, value in reversed(list(self._history)[:-1]):
                if value < floor and (began is None or past.center < began):
                    break
                members.append((past, value))
            self._open = list(reversed(members)) + [(window, smoothed)]
            self._last_strong = window.center
        return closed

    def open_event(self) -> CandidateEvent | None:
        """A snapshot of the event open now (onset to the latest window), or ``None``."""
        if not self._open:
            return None
        return self._make(list(self._open), check_duration=False)

    def _close(self) -> CandidateEvent | None:
        members = self._open or []
        self._open = None
        return self._make(members, check_duration=True)

    def _make(self, members: list[tuple[ScoredWindow, float]], check_duration: bool) -> CandidateEvent | None:
        # trailing windows below ``low`` were kept only to bridge gaps
        while members and members[-1][1] < self.low:
            members.pop()
        if not members:
            return None
        first, last = members[0][0], members[-1][0]
        stride = self._stride_s or 0.0
        start = max(0.0, first.center - 0.5 * stride)
        end = last.center + 0.5 * stride
        if check_duration and end - start < self.min_event_s:
            return None
        peak_w, peak_v = max(members, key=lambda m: m[1])
        return CandidateEvent(
            camera_id=self.camera_id,
            source=self.source,
            start_s=round(start, 3),
            end_s=round(end, 3),
            peak_score=round(float(peak_v), 4),
            peak_time_s=round(peak_w.center, 3),
            windows=[w for w, _ in members],
            smoothed=[round(float(v), 4) for _, v in members],
            content_id=self.content_id,
        )


def remainder(event: CandidateEvent, after_s: float, threshold: float) -> CandidateEvent | None:
    """The part of ``event`` from ``after_s`` on, as an event of its own, if it is still unusual.

    Used when the agents dismissed the beginning of a long event: what follows gets its own
    onset, id and judgement.
    """
    pairs = list(zip(event.windows, event.smoothed if len(event.smoothed) == len(event.windows) else [w.score for w in event.windows]))
    rest = [(w, v) for w, v in pairs if w.ts_start >= after_s - 1e-6]
    if not rest or max(v for _, v in rest) < threshold:
        return None
    stride = (rest[-1][0].ts_start - rest[0][0].ts_start) / (len(rest) - 1) if len(rest) > 1 else 0.0
    peak_w, peak_v = max(rest, key=lambda m: m[1])
    return CandidateEvent(
        camera_id=event.camera_id,
        source=event.source,
        start_s=round(max(0.0, rest[0][0].center - 0.5 * stride), 3),
        end_s=event.end_s,
        peak_score=round(float(peak_v), 4),
        peak_time_s=round(peak_w.center, 3),
        windows=[w for w, _ in rest],
        smoothed=[v for _, v in rest],
        content_id=event.content_id,
    )
