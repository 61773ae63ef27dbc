"""What every video source shares: frames, source facts, rate sampling and the working frame size.

:mod:`perception.source.video` (files, folders, :func:`~perception.source.video.open_video`) and
:mod:`perception.source.capture` (streams, webcams) build on these; import them from
:mod:`perception.source.video`, which re-exports them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vigil.core.errors import VideoError

SourceKind = Literal["file", "stream", "webcam", "folder"]

# The widest picture a camera delivers, as long side : short side. Real footage stays well inside:
# 16:9 and 4:3 cameras, 9:16 phone clips, 32:9 (3.6:1) panoramas, 2:1 equirectangular 360-degree
# video, and multi-sensor panoramic cameras whose side-by-side imagers reach about 7:1. Anything
# past 10:1 is a corrupt header or not camera footage, and scaling it to the working width is what
# blows a few kilobytes up into gigabytes (a 1x240 file is 320x76800 per frame), so it is refused.
MAX_ASPECT = 10.0
# The largest working frame, in pixels: 3840x2160 (UHD), the widest frame_width the config
# allows at 16:9. Bounds one frame to about 25 MB of RGB, whatever the source and setting.
MAX_FRAME_PIXELS = 3840 * 2160
# The largest source picture decoded, in pixels: 8192x8192, past 8K (7680x4320) with room to
# spare. A decoded frame is held whole before it is scaled, so a header declaring more (an image
# of a few kilobytes can say 60000x60000) would take gigabytes per frame; it is refused unread.
MAX_SOURCE_PIXELS = 8192 * 8192


class FrameSizeError(VideoError):
    """A frame size no camera has (no decoder will do better, so none is tried after it)."""


@dataclass(frozen=True)
class Frame:
    """One sampled frame.

    Attributes:
        index: index of the frame in the source (files and folders) or frames read so far
            (streams).
        t: seconds since the start of the source, from the container's timestamps.
        image: ``(H, W, 3)`` uint8 RGB, upright, already resized.
    """

    index: int
    t: float
    image: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before decoding it.

    ``width`` and ``height`` describe the upright picture: a phone clip stored landscape with a
    90-degree display rotation is reported (and delivered) portrait.
    """

    source: str
    kind: SourceKind
    width: int
    height: int
    fps: float | None
    n_frames: int | None
    duration_s: float | None

    @property
    def is_live(self) -> bool:
        """True for webcams and streams with no known end (a file served over HTTP has one)."""
        return self.kind == "webcam" or (self.kind == "stream" and not self.n_frames)


class RateSampler:
    """Keeps frames so that their timestamps follow a target rate.

    A frame is kept when it is the first at or after the next tick of a ``1 / fps`` grid
    anchored at the first frame (with half a source frame of tolerance). Sources slower than
    the target keep every frame; nothing is ever duplicated.
    """

    def __init__(self, fps: float, tolerance_s: float = 1e-3) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period = 1.0 / fps
        self.tolerance_s = tolerance_s
        self._t0: float | None = None
        self._next = 0.0

    def accept(self, t: float) -> bool:
        """Whether the frame at time ``t`` is kept."""
        if self._t0 is None:
            self._t0 = t
            self._next = t + self.period
            return True
        if t + self.tolerance_s < self._next:
            return False
        ticks = math.floor((t + self.tolerance_s - self._t0) / self.period) + 1
        self._next = self._t0 + ticks * self.period
        return True


def sample_indices(times: np.ndarray, fps: float) -> np.ndarray:
    """Indices of the frames with timestamps ``times`` that sampling at ``fps`` keeps."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    steps = np.diff(times)
    tolerance = 0.5 * float(np.median(steps)) if steps.size and np.median(steps) > 0 else 1e-3
    sampler = RateSampler(fps, tolerance_s=min(tolerance, 0.5 / fps))
    return np.array([i for i, t in enumerate(times) if sampler.accept(float(t))], dtype=np.int64)


def check_source_pixels(width: int, height: int, what: str = "frame size") -> None:
    """Raise :class:`FrameSizeError` for a source picture past :data:`MAX_SOURCE_PIXELS`.

    Args:
        what: what the message calls the picture (a file's name for an image).
    """
    if width * height > MAX_SOURCE_PIXELS:
        raise FrameSizeError(f"{what} {width}x{height}: more than {MAX_SOURCE_PIXELS / 1e6:.0f} million pixels, "
                             "past any camera's; the file is damaged or not camera footage")


def output_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """The working (width, height) of an upright ``width`` x ``height`` source: every source uses it.

    The picture is scaled to ``target_width`` with its aspect ratio kept and both sides even,
    within two bounds: its longer side never exceeds the larger of ``target_width`` and the
    source's own longer side (a tall source is not enlarged past either), and it holds at most
    :data:`MAX_FRAME_PIXELS`.

    Raises:
        FrameSizeError: a size that is not positive, larger than :data:`MAX_SOURCE_PIXELS`, or
            an aspect ratio past :data:`MAX_ASPECT`.
    """
    if width <= 0 or height <= 0:
        raise FrameSizeError(f"invalid frame size {width}x{height}")
    check_source_pixels(width, height)
    long_side, short_side = max(width, height), min(width, height)
    if long_side / short_side > MAX_ASPECT:
        raise FrameSizeError(f"frame size {width}x{height}: an aspect ratio of {long_side / short_side:.0f}:1 is beyond "
                         f"any camera's (at most {MAX_ASPECT:g}:1); the file is damaged or not camera footage")
    scale = target_width / width
    bounded = min(scale, max(target_width, long_side) / long_side, math.sqrt(MAX_FRAME_PIXELS / (width * height)))
    if bounded >= scale:  # within both bounds: the configured width
        return max(2, int(round(target_width / 2)) * 2), max(2, int(round(target_width * height / width / 2)) * 2)
    # rounded down, so that the bounds hold
    return max(2, int(width * bounded / 2) * 2), max(2, int(height * bounded / 2) * 2)


class VideoSource(ABC):
    """A source of sampled, resized, upright frames. Use as a context manager."""

    info: VideoInfo
    size: tuple[int, int]  # (width, height) of the frames yielded

    @abstractmethod
    def frames(self, start_s: float | None = None, end_s: float | None = None) -> Iterator[Frame]:
        """Sampled frames in time order (files and folders: only those in ``[start_s, end_s]``)."""

    def source_times(self) -> np.ndarray | None:
        """Timestamps of every source frame, for files and folders; ``None`` when live."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release decoder resources."""

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
