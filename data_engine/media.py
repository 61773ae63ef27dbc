"""Media files for datasets and benchmarks: event and clip files cut out of source videos for an
instruction dataset (:func:`cut_media`), and footage remade at a fixed size, rate and length
(:func:`remaster`, behind ``vigil data video``: the 1280x720 files ``vigil bench`` is quoted on).

``<out>/<dataset>/videos/<split>/<name>.mp4`` is a copy of the source; events and clips are
re-encoded (H.264) at the source's own frame rate and size between their start and end. Files
are written under a temporary name and renamed into place, so an interrupted run leaves no
half-written file and a re-run skips what is already there.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.source.video import Mp4Writer, open_video
from vigil.core.errors import VideoError
from vigil.core.paths import inside

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg")


@dataclass
class CutReport:
    """What cutting produced."""

    written: int = 0
    skipped: int = 0  # already there
    missing_sources: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def find_source(videos_dir: Path, name: str) -> Path | None:
    """The source video of ``name`` in ``videos_dir`` (any common suffix, also one folder down).

    Raises:
        DataError: ``name`` is not a plain file name (it would lead outside ``videos_dir``).
    """
    inside(videos_dir, name, subdirs=False, what="source video")
    for suffix in VIDEO_SUFFIXES:
        p = videos_dir / f"{name}{suffix}"
        if p.is_file():
            return p
    # one folder down, by the exact name: a glob of the name would read "*" or "[a]" as patterns
    folders = sorted(d for d in videos_dir.iterdir() if d.is_dir())
    for suffix in VIDEO_SUFFIXES:
        for d in folders:
            p = d / f"{name}{suffix}"
            if p.is_file():
                return p
    return None


def cut_media(
    segments: Sequence[tuple[str, str, tuple[float, float], str]],
    videos: str | Path | dict[str, Path],
    out_dir: str | Path,
    progress: Callable[[int], None] | None = None,
) -> CutReport:
    """Write every segment's file.

    Args:
        segments: ``(source name, level, (start_s, end_s), dataset-relative path)`` per file.
        videos: folder with the source videos (``<name>.mp4`` ...), or name -> path.
        out_dir: the dataset root the relative paths are under.
        progress: called with 1 after each file.

    Raises:
        DataError: a relative path or source name that would lead outside ``out_dir`` or the
            videos folder (checked for every segment before anything is written).
    """
    out_dir = Path(out_dir)
    report = CutReport()
    targets = [inside(out_dir, rel, what="media file") for _name, _level, _span, rel in segments]
    sources: dict[str, Path | None] = {}
    for name, _level, _span, _rel in segments:
        if name not in sources:
            sources[name] = videos.get(name) if isinstance(videos, dict) else find_source(Path(videos), name)
            if sources[name] is None:
                report.missing_sources.append(name)
    for (name, level, (t0, t1), rel), target in zip(segments, targets):
        src = sources[name]
        if src is None:
            pass
        elif target.is_file() and target.stat().st_size > 0:
            report.skipped += 1
        else:
            tmp = target.with_name(target.stem + ".part" + target.suffix)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if level == "video":
                    shutil.copyfile(src, tmp)
                else:
                    _cut(src, t0, t1, tmp)
                tmp.replace(target)
                report.written += 1
            except (VideoError, OSError) as exc:
                tmp.unlink(missing_ok=True)
                log.warning("could not write %s: %s", rel, exc)
                report.failed.append(rel)
        if progress:
            progress(1)
    return report


def _cut(src: Path, t0: float, t1: float, target: Path) -> None:
    """Re-encode ``src`` between ``t0`` and ``t1`` at its own rate and size, frame by frame."""
    with open_video(src, fps=1.0, width=16) as probe:
        fps = probe.info.fps or 25.0
        width = probe.info.width
    writer = None
    try:
        with open_video(src, fps=fps, width=width) as video:
            for frame in video.frames(t0, t1):
                h, w = frame.image.shape[:2]
                if writer is None:
                    writer = Mp4Writer(target, w - w % 2, h - h % 2, fps)
                writer.write(np.ascontiguousarray(frame.image[: h - h % 2, : w - w % 2]))
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise VideoError(f"{src.name}: no frames between {t0:.2f} s and {t1:.2f} s")


def remaster(
    sources: Sequence[str | Path],
    out: str | Path,
    size: tuple[int, int] = (1280, 720),
    fps: float = 25.0,
    seconds: float = 160.0,
    folder_fps: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Write ``sources`` (videos or image folders), one after another and looped until
    ``seconds``, as one H.264 MP4 of exactly ``size`` = (width, height) at ``fps``.

    Each source frame is held until the next one is due, so footage at another rate keeps its
    speed; frames are stretched to ``size`` (a camera's own resolution, not a letterbox). The
    file is written under a temporary name and renamed into place.

    Args:
        folder_fps: frame rate of image folders (default: ``fps``).
        progress: called with the number of frames written since the last call.

    Raises:
        VideoError: a missing or undecodable source, or nothing to write.
    """
    import cv2

    w, h = int(size[0]), int(size[1])
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise VideoError(f"size {w}x{h}: width and height must be even and at least 16")
    if not fps > 0 or not seconds > 0:
        raise VideoError("fps and seconds must be positive")
    total = int(round(seconds * fps))
    target = Path(out)
    tmp = target.with_name(f".{target.stem}.tmp{target.suffix or '.mp4'}")
    written = 0
    passes = 0

    def hold(image: np.ndarray | None, until: float) -> None:
        """Write ``image`` as every output frame due before ``until`` (seconds into the file)."""
        nonlocal written
        while image is not None and written < total and written / fps < until - 1e-9:
            writer.write(image)
            written += 1
            if progress:
                progress(1)

    try:
        with Mp4Writer(tmp, w, h, fps) as writer:
            while written < total:
                before = written
                for src in sources:
                    # sampled at twice the output rate: every output frame gets the source frame due then
                    with open_video(str(src), fps=2 * fps, width=w, folder_fps=folder_fps or fps) as video:
                        offset, image, last_t = written / fps, None, 0.0
                        for frame in video.frames():
                            hold(image, offset + frame.t)
                            if written >= total:
                                break
                            image = np.ascontiguousarray(cv2.resize(frame.image, (w, h), interpolation=cv2.INTER_LINEAR))
                            last_t = frame.t
                        hold(image, offset + max(video.info.duration_s or 0.0, last_t + 1.0 / (video.info.fps or fps)))
                    if written >= total:
                        break
                passes += 1
                if written == before:
                    raise VideoError("the sources hold no frames to write")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return {"out": str(target), "size": [w, h], "fps": fps, "frames": written, "seconds": written / fps,
            "passes": passes, "sources": [str(s) for s in sources]}
