"""Video input: files (decord), live streams and webcams (OpenCV), and image folders.

Every source yields :class:`Frame` objects sampled at a target rate, upright (the container's
display rotation applied), resized on the way in to the working size :func:`output_size`
computes, with timestamps read from the container rather than counted. Files that decord cannot
open fall back to OpenCV with a warning; a frame that fails to decode is skipped and logged; live
streams that drop are reopened with bounded exponential backoff, finite media end at their end.
A local path that is not a regular file or folder (a FIFO, a device) is refused before anything
opens it.

This module holds files and folders and :func:`open_video`; streams live in
:mod:`perception.source.capture`, the shared types in :mod:`perception.source.frame_source`, the MP4 writer in
:mod:`perception.source.video_writer`. Import any of them from here.

>>> with open_video("lobby.mp4", fps=8, width=320) as video:   # doctest: +SKIP
...     for frame in video.frames():
...         print(frame.index, round(frame.t, 3), frame.image.shape)
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.source.capture import CaptureFactory, CaptureSource, ReconnectPolicy
from perception.source.frame_source import (
    MAX_ASPECT,
    MAX_FRAME_PIXELS,
    MAX_SOURCE_PIXELS,
    Frame,
    FrameSizeError,
    RateSampler,
    SourceKind,
    VideoInfo,
    VideoSource,
    check_source_pixels,
    output_size,
    sample_indices,
)
from perception.source.video_writer import Mp4Writer, write_clip
from vigil.core.errors import VideoError, first_line

# Decoder chatter ("[h264 @ 0x..] Invalid NAL unit size") goes to the raw stderr; Vigil reports
# damaged input through its own log instead. Set the variable yourself to see FFmpeg's output.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402  (after the log level, which OpenCV reads when its FFmpeg backend loads)

__all__ = [
    "IMAGE_SUFFIXES", "MAX_ASPECT", "MAX_FRAME_PIXELS", "MAX_SOURCE_PIXELS", "STREAM_SCHEMES", "CaptureFactory", "CaptureSource", "FileSource",
    "FolderSource", "Frame", "FrameSizeError", "Mp4Writer", "RateSampler", "ReconnectPolicy", "SourceId", "SourceKind", "VideoInfo",
    "VideoRef", "VideoSource", "check_local_source", "find_video", "identify_source", "local_exists", "open_video", "output_size", "source_key",
    "sample_indices", "source_kind", "write_clip",
]

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class FileSource(VideoSource):
    """A video file decoded with decord (turned upright and resized inside the decoder)."""

    BATCH = 32

    def __init__(self, path: Path, *, fps: float, width: int, geometry: tuple[int, int, int] | None = None) -> None:
        """Open ``path``; ``geometry``: its :func:`_container_geometry`, when already read."""
        import decord

        decord.logging.set_level(decord.logging.QUIET)
        self.path = path
        self.fps = fps
        # decord applies the display rotation itself (transposing before it scales), so it is
        # asked for the upright size; the size the container records is the stored one
        src_w, src_h = _upright(geometry or _container_geometry(path) or (0, 0, 0))
        last: Exception | None = None
        # decord decodes ahead while opening; damage later in the file can make that fail
        # once and succeed the next time, so it gets a second chance
        for _attempt in range(2):
            try:
                if src_w <= 0:  # decord's own frame is upright already
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
            raise VideoError(f"decord cannot read {path}: {first_line(last or RuntimeError('unknown'))}") from None
        if n <= 0:
            raise VideoError(f"{path} has no video frames")
        if self.size[0] < 64:
            # decord takes a padded row of fewer than 64 pixels for extra colour channels (a 24-pixel
            # RGB row padded to 96 bytes comes out as 4 channels): such frames are read with OpenCV
            shape = self._reader[0].shape
            if tuple(shape) != (self.size[1], self.size[0], 3):
                raise VideoError(f"decord delivers {self.size[0]}-pixel-wide frames malformed ({tuple(shape)})")
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
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # upright, as decord delivers them
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
            try:
                bgr = _imread(self.files[i])
            except FrameSizeError as exc:
                log.warning("%s: skipping %s", self.folder, exc)
                continue
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
    try:
        if Path(text).is_dir():
            return "folder"
    except OSError:  # a path the file system cannot look up (a name too long): not a folder
        pass
    return "file"


def _local_stat(source: str | int | Path) -> os.stat_result | None:
    """The metadata of a local source (``None`` if it does not exist), never opening it.

    Raises:
        VideoError: the file system cannot look the path up (a name too long, no permission).
    """
    path = Path(str(source)).expanduser()
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        text = str(path)
        shown = text if len(text) <= 100 else f"{text[:60]}...{text[-30:]}"
        raise VideoError(f"{shown}: cannot look it up ({exc.strerror or exc})") from None


def local_exists(source: str | int | Path) -> bool:
    """Whether ``source`` is a local path that exists (streams and webcams: ``False``).

    Raises:
        VideoError: the file system cannot look the path up.
    """
    return source_kind(source) not in ("stream", "webcam") and _local_stat(source) is not None


def check_local_source(source: str | int | Path, missing: str = "video not found") -> None:
    """Refuse a local source that is neither a regular file nor a folder, in one line.

    Reads only the file system's metadata (``stat``), never the file: opening a FIFO, a device
    or a socket can block forever or never end, so they are refused before anything opens them.
    Streams and webcams pass unchecked.

    Args:
        missing: what the error for a path that does not exist begins with.

    Raises:
        VideoError: a missing path, one the file system cannot look up, or one that names a
            FIFO, device, socket or the like.
    """
    if source_kind(source) in ("stream", "webcam"):
        return
    path = Path(str(source)).expanduser()
    info = _local_stat(path)
    if info is None:
        raise VideoError(f"{missing}: {path}")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise VideoError(f"{path} is not a regular file or folder (a pipe, device or socket is never read)")


@dataclass(frozen=True)
class VideoRef:
    """A video identified once, at the edge, and passed on from there: how the store knows a
    source, whatever spelling was typed.

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

    @property
    def path(self) -> Path | None:
        """The resolved path of a file or folder (``None`` for streams and webcams)."""
        return Path(self.key) if self.kind in ("file", "folder") else None

    def __str__(self) -> str:
        return self.key


#: the name this type had before it travelled (kept so older imports still work)
SourceId = VideoRef


def source_key(source: str | int | Path | VideoRef) -> str:
    """The key the store gives a source (:attr:`VideoRef.key`), from its name alone: nothing is
    opened or read, so it never waits on the source."""
    if isinstance(source, VideoRef):
        return source.key
    if source_kind(source) in ("stream", "webcam"):
        return str(source)
    path = Path(source).expanduser()
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop: the spelling is all there is
        return str(path.absolute())


def identify_source(source: str | int | Path | VideoRef) -> VideoRef:
    """The :class:`VideoRef` of a source (a missing file keys by its resolved path, content unknown).

    Never opens anything but a regular file: a FIFO or device gets an empty ``content_id``
    (:func:`open_video` refuses it with one line). A :class:`VideoRef` is returned as it is: a
    video is identified once, where it enters, and that object travels on.
    """
    if isinstance(source, VideoRef):
        return source
    kind = source_kind(source)
    key = source_key(source)
    if kind in ("stream", "webcam"):
        return VideoRef(key, "", kind)
    path = Path(source).expanduser()
    try:
        if kind == "folder":
            digest = hashlib.sha1()
            for f in sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                digest.update(f"{f.name}:{f.stat().st_size};".encode())
            return VideoRef(key, "d" + digest.hexdigest()[:15], kind)
        info = path.stat()
        head = _read_regular(path, 1 << 20) if stat.S_ISREG(info.st_mode) else None
        if head is None:
            return VideoRef(key, "", kind)
        return VideoRef(key, f"{info.st_size:x}-{hashlib.sha1(head).hexdigest()[:12]}", kind)
    except OSError:
        return VideoRef(key, "", kind)


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
        width: frames are resized to this width, keeping the aspect ratio, within the bounds
            :func:`output_size` sets.
        folder_fps: frame rate of an image folder (default: ``fps``).
        reconnect: retry policy for live streams.
        capture_factory: replaces ``cv2.VideoCapture`` (tests, custom backends).

    Raises:
        VideoError: missing, empty or undecodable files and folders; a local path that is not a
            regular file or folder (FIFO, device), refused unopened.
        FrameSizeError: a picture no camera takes (aspect ratio past :data:`MAX_ASPECT`).
        StreamError: a stream or webcam that cannot be opened.
    """
    kind = source_kind(source)
    if kind == "webcam":
        return CaptureSource(int(str(source)), kind="webcam", fps=fps, width=width, reconnect=reconnect,
                             capture_factory=capture_factory)
    if kind == "stream":
        return CaptureSource(str(source), kind="stream", fps=fps, width=width, reconnect=reconnect,
                             capture_factory=capture_factory)
    check_local_source(source)  # before anything opens it: a FIFO or device would block or never end
    path = Path(str(source)).expanduser()
    if kind == "folder":
        return FolderSource(path, fps=fps, width=width, folder_fps=folder_fps)
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes)")
    why = None
    geometry = _container_geometry(path)
    if geometry is None:
        # no container FFmpeg can parse: decord would only add its own error lines; OpenCV has
        # the last word (it reads some raw streams)
        why = "not a container FFmpeg can parse"
    else:
        if geometry[0] > 0 and geometry[1] > 0:
            output_size(*_upright(geometry), width)  # a frame no camera has: refused before any decoder
        try:
            return FileSource(path, fps=fps, width=width, geometry=geometry)
        except ImportError:
            why = "decord is not installed"
        except FrameSizeError:
            raise
        except VideoError as exc:
            why = str(exc)
    try:
        source_ = CaptureSource(str(path), kind="file", fps=fps, width=width, capture_factory=capture_factory)
    except FrameSizeError:
        raise
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
    from vigil.core.paths import inside

    root = Path(root)
    p = inside(root, rel, what="video")
    if p.is_file():
        return p
    hits = sorted(root.rglob(glob.escape(p.name)))  # the name as it is, not as a pattern
    return hits[0] if hits else None


def _container_geometry(path: Path) -> tuple[int, int, int] | None:
    """Stored frame width and height and the display rotation, from the container.

    The rotation is in degrees counter-clockwise (0, 90, 180 or 270) to turn a stored frame
    upright. Returns (0, 0, 0) if nothing is recorded or PyAV is missing, ``None`` if FFmpeg
    cannot parse the file at all.
    """
    try:
        import av
    except ImportError:
        return 0, 0, 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
            return width, height, _display_rotation(container, stream)
    except Exception:  # av raises its own error classes for every kind of bad input
        return None


def _display_rotation(container: Any, stream: Any) -> int:
    """A stream's display rotation, counter-clockwise degrees snapped to a quarter turn.

    FFmpeg before 6 reports it as the stream's ``rotate`` tag (clockwise); newer versions keep
    the display matrix as side data, which PyAV shows on decoded frames (``frame.rotation``),
    so the first frame is decoded for it. Angles that are not quarter turns are ignored.
    """
    degrees = 0.0
    tag = stream.metadata.get("rotate")
    if tag:
        try:
            degrees = -float(tag)
        except ValueError:
            return 0
    else:
        for n, packet in enumerate(container.demux(stream)):
            if n >= 64:  # nothing decodes at the start: the decoders will tell
                break
            try:
                decoded = packet.decode()
            except Exception:  # a damaged packet: the next one may decode
                continue
            if decoded:
                degrees = float(getattr(decoded[0], "rotation", 0) or 0)
                break
    quarter = round(degrees / 90)
    return (quarter % 4) * 90 if abs(degrees - 90 * quarter) < 1 else 0


def _upright(geometry: tuple[int, int, int]) -> tuple[int, int]:
    """(width, height) of the upright picture, from :func:`_container_geometry`."""
    width, height, rotation = geometry
    return (height, width) if rotation in (90, 270) else (width, height)


def _read_regular(path: Path, limit: int = -1) -> bytes | None:
    """Up to ``limit`` bytes of ``path`` (all: -1), or ``None`` if it is not a regular file.

    Opened without blocking and judged on the open handle, so a FIFO put in the file's place
    after a check cannot hang the read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read(limit)


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
    """An image file as BGR, or ``None`` if it cannot be read or decoded.

    Raises:
        FrameSizeError: its header declares a picture past :data:`MAX_SOURCE_PIXELS`, which is
            never decoded (a small file can declare gigapixels).
    """
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        data = _read_regular(path)
    except OSError:
        return None
    if not data:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:  # reads the header only
                width, height = header.size
    except Image.DecompressionBombError as exc:  # past Pillow's own limit, far past ours
        raise FrameSizeError(f"{path.name}: {first_line(exc)}; not decoded") from None
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    check_source_pixels(width, height, f"{path.name}: image")  # never decoded past it
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
