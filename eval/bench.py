"""Speed and memory of the perception path, measured as ratios within one run.

``decode_fps`` is the rate at which the same file is merely decoded and sampled (the floor no
pipeline can beat); ``pipeline_fps`` is the rate of the full path (decode, windows, encoder,
scorer, Engram gate, events). Their ratio is what to compare across machines: absolute rates on
a shared machine are noise.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass

from perception.pipeline import Scanner, open_camera_video
from perception.profile import CameraProfile
from vigil.config import CameraConfig


@dataclass
class BenchReport:
    """What ``vigil bench`` prints."""

    source: str
    frame_size: list[int]
    sampled_frames: int
    windows: int
    decode_fps: float
    pipeline_fps: float
    ratio: float
    stage_ms_per_window: dict[str, float]
    peak_rss_mb: float
    encoder: str
    engram: bool

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench(
    source: str, profile: CameraProfile, camera: CameraConfig, max_seconds: float | None = None, use_engram: bool = True
) -> BenchReport:
    """Decode-only pass, then the full pipeline, on the same source."""
    t0 = time.perf_counter()
    frames = 0
    with open_camera_video(source, camera, fps=profile.fps) as video:
        size = list(video.size)
        for frame in video.frames():
            if max_seconds is not None and frame.t > max_seconds:
                break
            frames += 1
    decode_s = time.perf_counter() - t0
    scanner = Scanner(profile, camera, use_engram=use_engram)
    result = scanner.scan(source, max_seconds=max_seconds)
    timings = result.timings
    pipeline_s = timings["total_s"]
    n_windows = max(1, len(result.windows))
    decode_fps = frames / max(decode_s, 1e-9)
    pipeline_fps = frames / max(pipeline_s, 1e-9)
    stages = {
        "decode_wait": 1000 * timings["decode_wait_s"] / n_windows,
        "encode": 1000 * timings["embed_s"] / n_windows,
        "score": 1000 * timings["score_s"] / n_windows,
        "events": 1000 * timings["events_s"] / n_windows,
        "total": 1000 * pipeline_s / n_windows,
    }
    return BenchReport(
        source=str(source),
        frame_size=size,
        sampled_frames=frames,
        windows=len(result.windows),
        decode_fps=round(decode_fps, 1),
        pipeline_fps=round(pipeline_fps, 1),
        ratio=round(pipeline_fps / max(decode_fps, 1e-9), 3),
        stage_ms_per_window={k: round(v, 2) for k, v in stages.items()},
        peak_rss_mb=round(_peak_rss_mb(), 1),
        encoder=profile.encoder_version,
        engram=scanner.use_engram,
    )
