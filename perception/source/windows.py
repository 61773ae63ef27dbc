"""Sliding windows over sampled frames: ``size`` frames, a new window every ``stride`` frames.

A window spans ``[ts_start, ts_end)`` where ``ts_end`` is the last frame's time plus one
sampling period, so consecutive windows at stride == size tile the timeline. The tail of a
video that no regular window reaches gets one final window aligned to the last frame, and a
video shorter than one window is padded by repeating its last frame (``n_valid`` says how many
frames are real).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from perception.source.video import Frame


@dataclass(frozen=True)
class Window:
    """A run of sampled frames that is scored as one unit.

    Attributes:
        index: 0-based window number within its source.
        frames: ``(T, H, W, 3)`` uint8 RGB.
        times: ``(T,)`` frame timestamps in seconds.
        frame_indices: ``(T,)`` source frame indices.
        ts_start: time of the first frame.
        ts_end: time of the last frame plus one sampling period.
        n_valid: frames that are real (the rest repeat the last one).
    """

    index: int
    frames: np.ndarray
    times: np.ndarray
    frame_indices: np.ndarray
    ts_start: float
    ts_end: float
    n_valid: int

    @property
    def center_s(self) -> float:
        """Midpoint of the window in seconds."""
        return 0.5 * (self.ts_start + self.ts_end)


def iter_windows(frames: Iterable[Frame], *, size: int = 16, stride: int = 8, fps: float = 8.0) -> Iterator[Window]:
    """Group frames into windows.

    Args:
        frames: sampled frames in time order.
        size: frames per window.
        stride: frames between the starts of consecutive windows (``1 <= stride <= size``).
        fps: the sampling rate, used for ``ts_end``.
    """
    if size < 1 or not 1 <= stride <= size:
        raise ValueError(f"need 1 <= stride <= size, got size={size}, stride={stride}")
    period = 1.0 / fps
    buffer: deque[Frame] = deque(maxlen=size)
    seen = 0
    next_start = 0  # frame number at which the next window starts
    emitted = 0
    last_end = -1  # frame number of the last frame covered by an emitted window
    for frame in frames:
        buffer.append(frame)
        seen += 1
        if seen - next_start == size:
            yield _make(emitted, list(buffer), period, size)
            emitted += 1
            last_end = seen - 1
            next_start += stride
    if not buffer:
        return
    if emitted == 0:
        yield _make(0, list(buffer), period, size)
    elif last_end < seen - 1:
        yield _make(emitted, list(buffer), period, size)


def _make(index: int, frames: list[Frame], period: float, size: int) -> Window:
    n_valid = len(frames)
    if n_valid < size:
        frames = frames + [frames[-1]] * (size - n_valid)
    times = np.array([f.t for f in frames], dtype=np.float64)
    return Window(
        index=index,
        frames=np.stack([f.image for f in frames]),
        times=times,
        frame_indices=np.array([f.index for f in frames], dtype=np.int64),
        ts_start=float(times[0]),
        ts_end=float(frames[n_valid - 1].t + period),
        n_valid=n_valid,
    )
