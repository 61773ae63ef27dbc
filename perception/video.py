"""Video input: files (decord), live streams and webcams (OpenCV), and image folders.

Every source yields :class:`Frame` objects sampled at a target rate, resized on the way in,
with timestamps read from the container rather than counted. Files that decord cannot open
fall back to OpenCV with a warning; a frame that fails to decode is skipped and logged; live
streams that drop are reopened with bounded exponential backoff.

>>> with open_video("lobby.mp4", fps=8, width=320) as video:   # doctest: +SKIP
...     for frame in video.frames():
...         print(frame.index, round(frame.t, 3), frame.image.shape)
"""

from __future__ import annotations

import glob
import hashlib
import logging
import math
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vigil.errors import StreamError, VideoError

# Decoder chatter ("[h264 @ 0x..] Invalid NAL unit size") goes to the raw stderr; Vigil reports
# damaged input through its own log instead. Set the variable yourself to see FFmpeg's output.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402  (after the log level, which OpenCV reads when its FFmpeg backend loads)

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SourceKind = Literal["file", "stream", "webcam", "folder"]


@dataclass(frozen=True)
class Frame:
    """One sampled frame.

    Attributes:
        index: index of the frame in the source (files and folders) or frames read so far
            (streams).
        t: seconds since the start of the source, from the container's timestamps.
        image: ``(H, W, 3)`` uint8 RGB, already resized.
    """

    index: int
    t: float
    image: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before decoding it."""

    source: str
    kind: SourceKind
    width: int
    height: int
    fps: float | None
    n_frames: int | None
    duration_s: float | None

    @property
    def is_live(self) -> bool:
        """True for streams and webcams, which have no known end."""
        return self.kind in ("stream", "webcam")


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a dropped live stream is retried: ``attempts`` tries, delays doubling to a cap."""

    attempts: int = 5
    initial_delay_s: float = 0.5
    max_delay_s: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0-based)."""
        return min(self.max_delay_s, self.initial_delay_s * (2**attempt))


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


def output_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """Resized (width, height) with the aspect ratio kept and both sides even."""
    if width <= 0 or height <= 0:
        raise VideoError(f"invalid frame size {width}x{height}")
    out_w = max(2, int(round(target_width / 2)) * 2)
    out_h = max(2, int(round(target_width * height / width / 2)) * 2)
    return out_w, out_h


class VideoSource(ABC):
    """A source of sampled, resized frames. Use as a context manager."""

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


class FileSource(VideoSource):
    """A video file decoded with decord (resizing inside the decoder)."""

    BATCH = 32

    def __init__(self, path: Path, *, fps: float, width: int) -> None:
        import decord

        decord.logging.set_level(decord.logging.QUIET)
        self.path = path
        self.fps = fps
        src_w, src_h = _container_size(path) or (0, 0)
        last: Exception | None = None
        # decord decodes ahead while opening; damage later in the file can make that fail
        # once and succeed the next time, so it gets a second chance
        for _attempt in range(2):
            try:
                if src_w <= 0:
                    probe = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
                    src_h, src_w = probe[0].shape[:2]
                    del probe
                self.size = output_size(src_w, src_h, width)
                # one decoding thread: the pipeline decodes in a thread of its own beside the analysis
                self._reader = decord.VideoReader(
                    str(path), ctx=decord.cpu(0), width=self.size[0], height=self.size[1], num_threads=1
                )
                n = len(self._reader)
                avg_fps = float(self._reader.get_avg_fps())
                break
            except (decord.DECORDError, RuntimeError, IndexError) as exc:
                last = exc
        else:
            raise VideoError(f"decord cannot read {path}: {_first_line(last or RuntimeError('unknown'))}") from None
        if n <= 0:
            raise VideoError(f"{path} has no video frames")
        self._times = self._timestamps(n, avg_fps)
        duration = float(self._times[-1] + (1.0 / avg_fps if avg_fps > 0 else 0.0))
        self.info = VideoInfo(str(path), "file", src_w, src_h, avg_fps or None, n, duration)

    def _timestamps(self, n: int, avg_fps: float) -> np.ndarray:
        try:
            times = np.asarray(self._reader.get_frame_timestamp(np.arange(n)), dtype=np.float64)[:, 0]
        except Exception as exc:  # decord raises assorted errors on odd containers
            log.warning("%s: no frame timestamps (%s); assuming constant %.3f fps", self.path, exc, avg_fps)
            times = np.full(n, np.nan)
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
            if avg_fps <= 0:
                raise VideoError(f"{self.path}: neither frame timestamps nor a frame rate are readable")
            log.warning("%s: container timestamps are unusable; assuming constant %.3f fps", self.path, avg_fps)
            times = np.arange(n, dtype=np.float64) / avg_fps
        return times - times[0]

    def source_times(self) -> np.ndarray:
        return self._times.copy()

    def frames(self, start_s: float | None = None, end_s: float | None = None) -> Iterator[Frame]:
        import decord

        keep = sample_indices(self._times, self.fps)
        keep = keep[_in_span(self._times[keep], start_s, end_s)]
        pos = 0
        while pos < len(keep):
            chunk = keep[pos : pos + self.BATCH]
            try:
                batch = self._reader.get_batch(chunk.tolist()).asnumpy()
            except (decord.DECORDError, RuntimeError):
                batch = None
            if batch is not None:
                for i, image in zip(chunk.tolist(), batch):
                    yield Frame(int(i), float(self._times[i]), np.ascontiguousarray(image))
                pos += len(chunk)
                continue
            # Find the damaged frame. decord's decoder does not recover from a bad packet, so
            # the rest of the file is read with OpenCV, whose decoder conceals damage.
            for i in chunk.tolist():
                try:
                    image = self._reader[i].asnumpy()
                except (decord.DECORDError, RuntimeError):
                    log.warning("%s: skipping undecodable frame %d; continuing with OpenCV", self.path, i)
                    yield from self._frames_opencv(keep[pos + 1 :])
                    return
                yield Frame(int(i), float(self._times[i]), np.ascontiguousarray(image))
                pos += 1

    def _frames_opencv(self, wanted: np.ndarray) -> Iterator[Frame]:
        """Frames ``wanted`` (source indices) read sequentially with OpenCV after a decode error."""
        if wanted.size == 0:
            return
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            log.warning("%s: OpenCV cannot open the file either; %d frames lost", self.path, wanted.size)
            return
        wanted_set = set(wanted.tolist())
        last = int(wanted[0]) - 1
        failures = 0
        try:
            while failures < 32:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    failures += 1
                    continue
                failures = 0
                # map the decoded frame to its source index by timestamp: damaged frames are
                # dropped by the decoder, so counting frames would drift
                t = float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
                i = int(np.argmin(np.abs(self._times - t)))
                if i <= last or i not in wanted_set:
                    continue
                skipped = [j for j in wanted.tolist() if last < j < i]
                if skipped:
                    log.warning("%s: skipped %d damaged frame(s) before frame %d", self.path, len(skipped), i)
                last = i
                rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.size, interpolation=cv2.INTER_AREA)
                yield Frame(i, float(self._times[i]), rgb)
                if i >= int(wanted[-1]):
                    return
        finally:
            cap.release()

    def close(self) -> None:
        self._reader = None  # type: ignore[assignment]


CaptureFactory = Callable[[Any], Any]


class CaptureSource(VideoSource):
    """A stream, webcam, or (as a fallback) file read through ``cv2.VideoCapture``.

    Live sources that stop delivering frames are reopened according to ``reconnect``;
    finite media (files, or an HTTP URL of a file) end at their last frame instead.
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
        return cap

    def _finite(self) -> bool:
        return self._n_frames is not None and self.info.kind != "webcam"

    def frames(self, start_s: float | None = None, end_s: float | None = None) -> Iterator[Frame]:
        nominal = self.info.fps or 25.0
        # tolerate timestamp jitter of under half a source frame
        sampler = RateSampler(self.fps, tolerance_s=min(0.25 / self.fps, 0.45 / nominal))
        index = -1
        offset = 0.0
        last_t = -math.inf
        clock0 = time.monotonic()
        failures = 0
        while True:
            if self._pending is not None:
                ok, bgr, self._pending = True, self._pending, None
            else:
                ok, bgr = self._cap.read() if self._cap is not None else (False, None)
            if ok and bgr is not None:
                failures = 0
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
            if self._finite() and index + 1 >= (self._n_frames or 0) - 1:
                return  # end of finite media
            if self.info.kind == "file":
                # a damaged frame inside a file: skip a few before calling it the end
                failures += 1
                index += 1
                if failures > 10:
                    # one line for the run of bad frames: the file ends here, whatever its header says
                    log.warning("%s: the file cannot be decoded after frame %d (%d unreadable frames in a row); "
                                "reading stops there", self.target, index - failures, failures)
                    return
                (log.warning if failures == 1 else log.debug)("%s: skipping unreadable frame %d", self.target, index)
                continue
            self._reopen(index)

    def _timestamp(self, index: int, nominal: float, clock0: float) -> float:
        pos = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
        if pos > 0 or index == 0:
            return pos
        if self.info.is_live and not self._finite():
            return time.monotonic() - clock0
        return index / nominal

    def _reopen(self, index: int) -> None:
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
                if self._finite():
                    cap.set(cv2.CAP_PROP_POS_FRAMES, index + 1)
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


class FolderSource(VideoSource):
    """A folder of images, one per frame, in natural filename order."""

    def __init__(self, folder: Path, *, fps: float, width: int, folder_fps: float | None) -> None:
        self.folder = folder
        self.fps = fps
        self.files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=_natural_key,
        )
        if not self.files:
            raise VideoError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        first = next((img for img in map(_imread, self.files[:10]) if img is not None), None)
        if first is None:
            raise VideoError(f"{folder}: the first images cannot be decoded")
        src_h, src_w = first.shape[:2]
        self.size = output_size(src_w, src_h, width)
        self.folder_fps = folder_fps or fps
        self._times = np.arange(len(self.files), dtype=np.float64) / self.folder_fps
        self.info = VideoInfo(
            str(folder), "folder", src_w, src_h, self.folder_fps, len(self.files), len(self.files) / self.folder_fps
        )

    def source_times(self) -> np.ndarray:
        return self._times.copy()

    def frames(self, start_s: float | None = None, end_s: float | None = None) -> Iterator[Frame]:
        keep = sample_indices(self._times, self.fps)
        for i in keep[_in_span(self._times[keep], start_s, end_s)].tolist():
            bgr = _imread(self.files[i])
            if bgr is None:
                log.warning("%s: skipping unreadable image %s", self.folder, self.files[i].name)
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield Frame(i, float(self._times[i]), cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA))


def source_kind(source: str | int | Path) -> SourceKind:
    """Classify a source string: stream URL, webcam index, folder or file."""
    text = str(source)
    if isinstance(source, int) or re.fullmatch(r"\d{1,2}", text):
        return "webcam"
    if text.lower().startswith(STREAM_SCHEMES):
        return "stream"
    if Path(text).is_dir():
        return "folder"
    return "file"


def check_local_source(source: str | int | Path) -> None:
    """Refuse a local source that is neither a regular file nor a folder, in one line.

    Reads only the file system's metadata (``stat``), never the file: opening a FIFO, a device
    or a socket can block forever or never end, so they are refused before anything opens them.
    Streams and webcams pass unchecked.

    Raises:
        VideoError: a missing path, or one that names a FIFO, device, socket or the like.
    """
    import stat

    if source_kind(source) in ("stream", "webcam"):
        return
    path = Path(str(source)).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VideoError(f"video not found: {path}") from None
    except OSError as exc:
        raise VideoError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise VideoError(f"{path} is not a regular file or folder (a pipe, device or socket is never read)")


@dataclass(frozen=True)
class SourceId:
    """How the store knows a source, whatever spelling was typed.

    Attributes:
        key: files and folders: the resolved absolute path; streams: the URL; webcams: the index.
        content_id: files: size plus a hash of the first MiB; folders: a hash of the image
            names and sizes; empty for live sources. A file replaced at the same path gets a
            new ``content_id``, so it is a new video, not the one indexed before.
        kind: file | folder | stream | webcam.
    """

    key: str
    content_id: str
    kind: SourceKind


def identify_source(source: str | int | Path) -> SourceId:
    """The :class:`SourceId` of a source (a missing file keys by its resolved path, content unknown)."""
    kind = source_kind(source)
    if kind in ("stream", "webcam"):
        return SourceId(str(source), "", kind)
    path = Path(source).expanduser()
    try:
        key = str(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop: the spelling is all there is
        key = str(path.absolute())
    try:
        if kind == "folder":
            digest = hashlib.sha1()
            for f in sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                digest.update(f"{f.name}:{f.stat().st_size};".encode())
            return SourceId(key, "d" + digest.hexdigest()[:15], kind)
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(1 << 20)
        return SourceId(key, f"{size:x}-{hashlib.sha1(head).hexdigest()[:12]}", kind)
    except OSError:
        return SourceId(key, "", kind)


def open_video(
    source: str | int | Path,
    *,
    fps: float = 8.0,
    width: int = 320,
    folder_fps: float | None = None,
    reconnect: ReconnectPolicy | None = None,
    capture_factory: CaptureFactory | None = None,
) -> VideoSource:
    """Open any supported source.

    Args:
        source: a video file, a folder of images, an ``rtsp://`` / ``http(s)://`` URL, or a
            webcam index such as ``"0"``.
        fps: target sampling rate in frames per second.
        width: frames are resized to this width, keeping the aspect ratio.
        folder_fps: frame rate of an image folder (default: ``fps``).
        reconnect: retry policy for live streams.
        capture_factory: replaces ``cv2.VideoCapture`` (tests, custom backends).

    Raises:
        VideoError: missing, empty or undecodable files and folders.
        StreamError: a stream or webcam that cannot be opened.
    """
    kind = source_kind(source)
    if kind == "webcam":
        return CaptureSource(int(str(source)), kind="webcam", fps=fps, width=width, reconnect=reconnect,
                             capture_factory=capture_factory)
    if kind == "stream":
        return CaptureSource(str(source), kind="stream", fps=fps, width=width, reconnect=reconnect,
                             capture_factory=capture_factory)
    path = Path(source)
    if kind == "folder":
        return FolderSource(path, fps=fps, width=width, folder_fps=folder_fps)
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    if not path.is_file():
        raise VideoError(f"{path} is not a regular file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes)")
    why = None
    if _container_size(path) is None:
        # no container FFmpeg can parse: decord would only add its own error lines; OpenCV has
        # the last word (it reads some raw streams)
        why = "not a container FFmpeg can parse"
    else:
        try:
            return FileSource(path, fps=fps, width=width)
        except ImportError:
            why = "decord is not installed"
        except VideoError as exc:
            why = str(exc)
    try:
        source_ = CaptureSource(str(path), kind="file", fps=fps, width=width, capture_factory=capture_factory)
    except VideoError:
        raise VideoError(f"cannot decode {path}: not a video file, or corrupt") from None
    if not source_.info.n_frames:
        source_.close()
        raise VideoError(f"cannot decode {path}: not a video file, or corrupt")
    log.warning("%s: read with OpenCV instead (%s)", path, why)
    return source_


def find_video(root: str | Path, rel: str) -> Path | None:
    """A dataset item's video: ``root/<rel>``, or a file of the same name anywhere below ``root``.

    Raises:
        DataError: ``rel`` would lead outside ``root`` (``..``, an absolute path, ...).
    """
    from vigil.paths import inside

    root = Path(root)
    p = inside(root, rel, what="video")
    if p.is_file():
        return p
    hits = sorted(root.rglob(glob.escape(p.name)))  # the name as it is, not as a pattern
    return hits[0] if hits else None


def _container_size(path: Path) -> tuple[int, int] | None:
    """Frame width and height from the container's metadata (no decoding): (0, 0) if they are
    not recorded or PyAV is missing, ``None`` if FFmpeg cannot parse the file at all."""
    try:
        import av
    except ImportError:
        return 0, 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            return int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    except Exception:  # av raises its own error classes for every kind of bad input
        return None


def _in_span(times: np.ndarray, start_s: float | None, end_s: float | None) -> np.ndarray:
    mask = np.ones(times.shape, bool)
    if start_s is not None:
        mask &= times >= start_s - 1e-6
    if end_s is not None:
        mask &= times <= end_s + 1e-6
    return mask


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _imread(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class Mp4Writer:
    """H.264 MP4 writer (PyAV), RGB frames in; the index goes first so files play while loading."""

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        import av

        path.parent.mkdir(parents=True, exist_ok=True)
        # faststart puts the index first, so the file plays while it downloads (browsers, HTTP)
        self._container = av.open(str(path), mode="w", options={"movflags": "faststart"})
        from fractions import Fraction

        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        self._stream.width = width
        self._stream.height = height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": "20", "preset": "veryfast", "tune": "zerolatency"}
        self._av = av

    def write(self, rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame."""
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_clip(path: Path, frames: list[Frame], fps: float) -> Path:
    """Write ``frames`` (same size) as an H.264 MP4 at ``fps``; sizes are made even."""
    if not frames:
        raise VideoError(f"no frames to write to {path}")
    h, w = frames[0].image.shape[:2]
    w2, h2 = w - w % 2, h - h % 2
    with Mp4Writer(path, w2, h2, fps) as writer:
        for f in frames:
            writer.write(np.ascontiguousarray(f.image[:h2, :w2]))
    return path
