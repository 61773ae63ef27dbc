"""Streams, webcams and (as a fallback) files read through OpenCV's ``cv2.VideoCapture``.

Live sources that stop delivering frames are reopened with bounded exponential backoff.
Finite media -- a file, or a file served over HTTP, whose length the container reports -- end
at their last frame and are never fetched again. Import these names from :mod:`perception.source.video`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from perception.source.frame_source import (
    Frame,
    RateSampler,
    SourceKind,
    VideoInfo,
    VideoSource,
    output_size,
)
from vigil.core.errors import StreamError, VideoError

# Decoder chatter ("[h264 @ 0x..] Invalid NAL unit size") goes to the raw stderr; Vigil reports
# damaged input through its own log instead. Set the variable yourself to see FFmpeg's output.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402  (after the log level, which OpenCV reads when its FFmpeg backend loads)

# the log keeps the name it had before this module was split off perception.source.video
log = logging.getLogger("perception.source.video")

CaptureFactory = Callable[[Any], Any]
# unreadable frames in a row after which finite media is taken to end there
MAX_BAD_READS = 10


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a dropped live stream is retried: ``attempts`` tries, delays doubling to a cap."""

    attempts: int = 5
    initial_delay_s: float = 0.5
    max_delay_s: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0-based)."""
        return min(self.max_delay_s, self.initial_delay_s * (2**attempt))


class CaptureSource(VideoSource):
    """A stream, webcam, or (as a fallback) file read through ``cv2.VideoCapture``.

    Frames come upright: OpenCV applies the container's display rotation. Live sources that
    stop delivering frames are reopened according to ``reconnect``; finite media (files, or an
    HTTP URL of a file: the capture reports a frame count) end at their last frame instead.
    """

    def __init__(
        self,
        target: str | int,
        *,
        kind: SourceKind,
        fps: float,
        width: int,
        reconnect: ReconnectPolicy | None = None,
        capture_factory: CaptureFactory | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = target
        self.fps = fps
        self.reconnect = reconnect or ReconnectPolicy()
        self._factory = capture_factory or cv2.VideoCapture
        self._sleep = sleep
        self._cap = self._open()
        if self._cap is None:
            if kind == "webcam":
                raise StreamError(f"cannot open webcam {target}: no such camera device, or it is in use")
            if kind == "stream":
                raise StreamError(f"cannot open stream {target}: check the address, credentials and that it is reachable")
            raise VideoError(f"cannot decode {target}: not a video file, or corrupt")
        src_w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        src_h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        nominal = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._n_frames = count if count > 0 else None
        if src_w <= 0 or src_h <= 0:
            # some streams report no size until the first frame
            ok, first = self._cap.read()
            if not ok or first is None:
                raise (StreamError if kind != "file" else VideoError)(f"{target}: opened but delivered no frames")
            src_h, src_w = first.shape[:2]
            self._pending = first
        else:
            self._pending = None
        self.size = output_size(src_w, src_h, width)
        duration = count / nominal if count > 0 and nominal > 0 else None
        self.info = VideoInfo(str(target), kind, src_w, src_h, nominal or None, self._n_frames, duration)

    def _open(self) -> Any | None:
        try:
            cap = self._factory(self.target)
        except Exception as exc:  # backends raise on malformed URLs
            log.debug("opening %s failed: %s", self.target, exc)
            return None
        if cap is None or not cap.isOpened():
            return None
        # upright frames, and the frame size reported upright (the default of recent OpenCV)
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        return cap

    def _finite(self) -> bool:
        """Whether the source has an end: a file, or a stream whose length the container reports."""
        return self.info.kind == "file" or (self._n_frames is not None and self.info.kind != "webcam")

    def frames(self, start_s: float | None = None, end_s: float | None = None) -> Iterator[Frame]:
        nominal = self.info.fps or 25.0
        # tolerate timestamp jitter of under half a source frame
        sampler = RateSampler(self.fps, tolerance_s=min(0.25 / self.fps, 0.45 / nominal))
        index = -1
        offset = 0.0
        last_t = -math.inf
        clock0 = time.monotonic()
        failures = 0
        delivered = 0
        while True:
            if self._pending is not None:
                ok, bgr, self._pending = True, self._pending, None
            else:
                ok, bgr = self._cap.read() if self._cap is not None else (False, None)
            if ok and bgr is not None:
                failures = 0
                delivered += 1
                index += 1
                t = self._timestamp(index, nominal, clock0) + offset
                if self.info.kind == "file" and t > 0:
                    # the decoder drops damaged frames silently: count by time, not by reads
                    index = max(index, int(round(t * nominal)))
                if t <= last_t:  # container clocks restart after a reconnect
                    offset += last_t - t + 1.0 / nominal
                    t = last_t + 1.0 / nominal
                last_t = t
                if end_s is not None and t > end_s:
                    return
                if start_s is not None and t < start_s:
                    continue
                if sampler.accept(t):
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    if rgb.shape[1] != self.size[0] or rgb.shape[0] != self.size[1]:
                        rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
                    yield Frame(index, float(t), rgb)
                continue
            if not self._finite():
                self._reopen()
                continue
            # finite media ends where reading ends: fetching a file again only replays it
            if index + 1 >= (self._n_frames or 0) - 1:
                return  # its last frame
            # a damaged frame inside: skip a few before calling it the end
            failures += 1
            index += 1
            if failures > MAX_BAD_READS:
                if delivered == 0 and self.info.kind == "stream":
                    raise StreamError(
                        f"{self.target}: the server sent the video's header but not one frame could be read "
                        "(an MP4 file over HTTP needs a server that answers range requests, or its index at the start)"
                    )
                # one line for the run of bad frames: the file ends here, whatever its header says
                log.warning("%s: the file cannot be decoded after frame %d (%d unreadable frames in a row); "
                            "reading stops there", self.target, index - failures, failures)
                return
            (log.warning if failures == 1 else log.debug)("%s: skipping unreadable frame %d", self.target, index)

    def _timestamp(self, index: int, nominal: float, clock0: float) -> float:
        pos = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
        if pos > 0 or index == 0:
            return pos
        if not self._finite():
            return time.monotonic() - clock0
        return index / nominal

    def _reopen(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        for attempt in range(self.reconnect.attempts):
            delay = self.reconnect.delay(attempt)
            log.warning(
                "%s: stream dropped; reconnecting in %.1f s (attempt %d of %d)",
                self.target, delay, attempt + 1, self.reconnect.attempts,
            )
            self._sleep(delay)
            cap = self._open()
            if cap is not None:
                self._cap = cap
                log.warning("%s: reconnected", self.target)
                return
        raise StreamError(
            f"stream {self.target} dropped and did not come back after "
            f"{self.reconnect.attempts} reconnect attempts"
        )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
