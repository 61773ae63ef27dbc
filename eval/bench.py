"""Speed and memory of the perception path, measured as ratios within one run.

``decode_fps`` is the rate at which the same file is merely decoded and sampled (the floor no
pipeline can beat); ``pipeline_fps`` is the rate of the full default path (decode, windows,
encoder, detector at its rate with the tracker, scorers, Engram gate, events), and
``no_detector_fps`` the same without the detector. With a learned frame scorer (``aedmae``,
``framepred``) its own rate is ``scorer_fps`` and its time per window the ``frame_scorer`` stage.
Their ratios are what to compare across machines: absolute rates on a shared machine are noise.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from perception.pipeline import Scanner, ScanResult, open_camera_video
from perception.profile import CameraProfile
from vigil.core.config import CameraConfig


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
    detector: str = "none"
    detections: int = 0
    scorer: str = "knn"                       # what gives the score (a learned frame scorer's name, or knn)
    scorer_fps: float | None = None           # frames per second of the learned frame scorer alone
    no_detector_fps: float | None = None      # the same path without the detector (None: none fitted)
    no_detector_ratio: float | None = None
    no_detector_stage_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _stages(result: ScanResult) -> dict[str, float]:
    t = result.timings
    n = max(1, len(result.windows))
    return {k: round(v, 2) for k, v in {
        "decode_wait": 1000 * t["decode_wait_s"] / n,
        "encode": 1000 * t["embed_s"] / n,
        "detect": 1000 * t.get("detect_s", 0.0) / n,
        "frame_scorer": 1000 * t.get("frame_score_s", 0.0) / n,
        "score": 1000 * t["score_s"] / n,
        "events": 1000 * t["events_s"] / n,
        "total": 1000 * t["total_s"] / n,
    }.items()}


def bench(
    source: str, profile: CameraProfile, camera: CameraConfig, max_seconds: float | None = None, use_engram: bool = True,
    models_dir: str | Path | None = None,
) -> BenchReport:
    """Decode-only pass, the full pipeline, and (with an object path) the pipeline without its
    detector, one after another on the same source."""
    t0 = time.perf_counter()
    frames = 0
    with open_camera_video(source, camera, fps=profile.fps) as video:
        size = list(video.size)
        for frame in video.frames():
            if max_seconds is not None and frame.t > max_seconds:
                break
            frames += 1
    decode_s = time.perf_counter() - t0
    scanner = Scanner(profile, camera, use_engram=use_engram, models_dir=models_dir)
    result = scanner.scan(source, max_seconds=max_seconds)
    decode_fps = frames / max(decode_s, 1e-9)
    pipeline_fps = frames / max(result.timings["total_s"], 1e-9)
    report = BenchReport(
        source=str(source),
        frame_size=size,
        sampled_frames=frames,
        windows=len(result.windows),
        decode_fps=round(decode_fps, 1),
        pipeline_fps=round(pipeline_fps, 1),
        ratio=round(pipeline_fps / max(decode_fps, 1e-9), 3),
        stage_ms_per_window=_stages(result),
        peak_rss_mb=0.0,
        encoder=profile.encoder_version,
        engram=scanner.use_engram,
        detector=profile.detector_name if scanner.objects is not None else "none",
        detections=scanner.objects.detections if scanner.objects is not None else 0,
        scorer=profile.scorer_name,
    )
    if result.timings.get("frame_score_s", 0.0) > 0:
        report.scorer_fps = round(frames / result.timings["frame_score_s"], 1)
    if scanner.objects is not None and scanner.objects.detector is not None:
        bare = Scanner(profile, camera, use_engram=use_engram, models_dir=models_dir, detector=None)
        plain = bare.scan(source, max_seconds=max_seconds)
        fps = frames / max(plain.timings["total_s"], 1e-9)
        report.no_detector_fps = round(fps, 1)
        report.no_detector_ratio = round(fps / max(decode_fps, 1e-9), 3)
        report.no_detector_stage_ms = _stages(plain)
    report.peak_rss_mb = round(_peak_rss_mb(), 1)
    return report
