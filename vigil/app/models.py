"""The model cache (``vigil models``) and reading a source to see what it gives (``vigil probe``).
Nothing here prints."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.core.errors import DataError


def pull(model: str, model_cache: Path, *, archive: str | None = None, force: bool = False,
         say: Callable[[str], None] | None = None) -> Path:
    """Fetch, verify and unpack a detector's files into the model cache; their folder."""
    from perception.detect.weights import KNOWN, pull_yolov3_tiny
    from perception.detect.weights import pull as pull_files

    if model == "yolov3-tiny":
        return pull_yolov3_tiny(model_cache, archive=archive, force=force, say=say)
    return pull_files(KNOWN[model], model_cache, archive=archive, force=force, say=say)


def list_models(model_cache: Path) -> tuple[list[dict[str, str]], bool]:
    """What the model cache holds (model, folder, status) and whether a pulled one is broken."""
    from perception.detect.weights import KNOWN, WeightsError

    rows = []
    broken = False
    for name, files in KNOWN.items():
        folder = files.folder(model_cache)
        if files.licence and not folder.exists():  # optional, never pulled: not a fault
            status = f"not pulled (optional; weights licensed {files.licence}): vigil models pull {name}"
        else:
            try:
                files.check(model_cache)
                status = "ok"
            except WeightsError as exc:
                status, broken = str(exc), True
        rows.append({"model": name, "folder": str(folder), "status": status})
    return rows, broken


@dataclass
class ProbeReport:
    """What ``vigil probe`` read: ``report`` is what ``--json`` prints; the rest is for its text."""

    report: dict[str, Any]
    info: Any
    fps: float
    out_size: tuple[int, int]
    count: int
    first_t: float | None
    last_t: float | None
    n_windows: int
    window: int
    stride: int
    elapsed: float


def probe(source: str, settings: Any, *, camera_id: str | None = None, fps: float | None = None,
          width: int | None = None, max_seconds: float | None = None) -> ProbeReport:
    """Open a source with a camera's settings (or the defaults), read it, count frames and windows."""
    from perception.source.video import ReconnectPolicy, open_video
    from perception.source.windows import iter_windows

    cam = settings.camera(camera_id, must_exist=True) if camera_id else settings.defaults
    fps = fps or cam.fps
    width = width or cam.frame_width
    policy = ReconnectPolicy(attempts=cam.reconnect_attempts, max_delay_s=cam.reconnect_max_delay_s)
    started = time.perf_counter()
    with open_video(source, fps=fps, width=width, folder_fps=cam.folder_fps, reconnect=policy) as video:
        limit = max_seconds if max_seconds is not None else (10.0 if video.info.is_live else None)
        count = 0
        first_t = last_t = None

        def frames():
            nonlocal count, first_t, last_t
            for frame in video.frames():
                if limit is not None and frame.t > limit:
                    return
                count += 1
                first_t = frame.t if first_t is None else first_t
                last_t = frame.t
                yield frame

        n_windows = sum(1 for _ in iter_windows(frames(), size=cam.window, stride=cam.stride, fps=fps))
        info = video.info
        out_size = video.size
    elapsed = time.perf_counter() - started
    report = {
        "source": info.source,
        "kind": info.kind,
        "source_size": [info.width, info.height],
        "source_fps": info.fps,
        "source_frames": info.n_frames,
        "duration_s": info.duration_s,
        "sampled_fps": fps,
        "frame_size": list(out_size),
        "sampled_frames": count,
        "first_t": first_t,
        "last_t": last_t,
        "windows": n_windows,
        "window": cam.window,
        "stride": cam.stride,
        "read_seconds": round(elapsed, 3),
    }
    if count == 0:
        raise DataError(f"{info.source}: opened, but no frame could be decoded")
    return ProbeReport(report, info, fps, out_size, count, first_t, last_t, n_windows, cam.window, cam.stride, elapsed)
