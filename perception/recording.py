"""Writing what the scanner sees into the store, and score files for evaluation (and reading them back)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perception.events import CandidateEvent, ScoredWindow, frame_scores
from vigil.core.errors import DataError
from vigil.core.files import write_text_atomic
from vigil.core.store import EventRecord, Store, WindowRecord


class StoreRecorder:
    """Buffers window scores and writes them (and events) to the store in transactions.

    Args:
        store: the open store.
        camera_id, source: recorded on every row.
        model_version: identifies the profile that produced the scores.
        threshold: windows at or above it are flagged ``is_anomaly``.
        batch: windows per transaction.
    """

    def __init__(self, store: Store, camera_id: str, source: str, model_version: str, threshold: float, batch: int = 64) -> None:
        self.store = store
        self.camera_id = camera_id
        self.source = source
        self.model_version = model_version
        self.threshold = threshold
        self.batch = batch
        self._buffer: list[WindowRecord] = []
        self.windows_written = 0
        self.events_written = 0

    def window(self, w: ScoredWindow) -> None:
        """Queue one window; flushes every ``batch`` windows."""
        self._buffer.append(
            WindowRecord(self.camera_id, self.source, round(w.ts_start, 4), round(w.ts_end, 4), round(w.score, 5),
                         w.score >= self.threshold, self.model_version)
        )
        if len(self._buffer) >= self.batch:
            self.flush()

    def event(self, e: CandidateEvent) -> None:
        """Store a candidate event (windows first, so the event's evidence is there)."""
        self.flush()
        self.store.upsert_event(
            EventRecord(e.event_id, e.camera_id, e.source, e.start_s, e.end_s, e.peak_score, status="candidate")
        )
        self.events_written += 1

    def flush(self) -> None:
        """Write the queued windows."""
        if self._buffer:
            self.windows_written += self.store.add_windows(self._buffer)
            self._buffer = []


def write_score_csv(path: str | Path, windows: Sequence[ScoredWindow], times: np.ndarray | None, smooth: int = 3,
                    frames: tuple[np.ndarray, np.ndarray] | None = None, per_video: bool = False,
                    types: Sequence[tuple[float, str]] | None = None) -> int:
    """Write ``frame,time_s,score`` with one row per source frame; returns the row count.

    Sources without per-frame timestamps (live streams) get one row per window centre.

    Args:
        frames: a learned frame scorer's (times, scores) of the sampled frames; when given, each
            source frame takes the score of its nearest scored frames instead of the windows'.
        per_video: min-max normalise the video's scores (the offline protocol of published
            frame-level results; it needs the whole video, so live alerts never use it).
        types: a frame scorer's (time, anomaly type) per scored frame (``--scorer fgclip``): a
            fourth column ``type`` gives each source frame its nearest scored frame's type.
    """
    if times is None:
        times = np.array([w.center for w in windows])
    if frames is not None and len(frames[0]):
        scores = np.clip(np.interp(np.asarray(times, dtype=np.float64), frames[0], frames[1]), 0.0, 1.0)
    else:
        scores = frame_scores(windows, times, smooth=smooth)
    if per_video and len(scores):
        lo, hi = float(scores.min()), float(scores.max())
        scores = (scores - lo) / (hi - lo) if hi > lo else np.zeros_like(scores)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    if types:
        at = np.array([t for t, _ in types], dtype=np.float64)
        order = np.argsort(at)
        at, names = at[order], [types[k][1] for k in order]
        writer.writerow(["frame", "time_s", "score", "type"])
        for i, (t, s) in enumerate(zip(times, scores)):
            k = int(np.clip(np.searchsorted(at, t), 1, len(at) - 1)) if len(at) > 1 else 0
            if len(at) > 1 and abs(at[k - 1] - t) <= abs(at[k] - t):
                k -= 1
            writer.writerow([i, f"{t:.4f}", f"{s:.5f}", names[k]])
    else:
        writer.writerow(["frame", "time_s", "score"])
        for i, (t, s) in enumerate(zip(times, scores)):
            writer.writerow([i, f"{t:.4f}", f"{s:.5f}"])
    write_text_atomic(path, handle.getvalue(), newline="")  # the CSV writer's \r\n as written
    return len(times)


def read_score_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A ``vigil score`` CSV read back as (time_s, score) arrays in time order.

    Raises:
        DataError: the file cannot be read, lacks the ``time_s``/``score`` columns, or holds
            something that is not a finite number.
    """
    path = Path(path)
    times, scores = [], []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"time_s", "score"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected frame,time_s,score")
            for line, row in enumerate(reader, start=2):
                try:
                    t, s = float(row["time_s"]), float(row["score"])
                except (TypeError, ValueError):
                    raise DataError(f"{path}:{line}: time_s and score must be numbers, got {row}") from None
                if not (math.isfinite(t) and math.isfinite(s)):
                    raise DataError(f"{path}:{line}: time_s and score must be finite, got {row}")
                times.append(t)
                scores.append(s)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    order = np.argsort(times, kind="stable")
    return np.asarray(times, dtype=np.float64)[order], np.asarray(scores, dtype=np.float64)[order]


def stored_scores(scores_dir: str | Path | None, video: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """``<scores_dir>/<video's stem>.csv`` (as ``vigil score --out DIR`` names it), or None when absent."""
    if scores_dir is None:
        return None
    csv_path = Path(scores_dir) / f"{Path(video).stem}.csv"
    return read_score_csv(csv_path) if csv_path.is_file() else None
