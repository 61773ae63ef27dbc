"""Speed and memory (``vigil bench``): the per-frame path on a video, and answering a question
once the footage is indexed. The load test of ``vigil serve`` is :mod:`vigil.server.bench`.
Nothing here prints."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from vigil.app.ask import Asker, resolve_scope
from vigil.app.progress import VideoProgress, no_video_progress
from vigil.app.runtime import ModelOptions, Overrides, camera_and_data, load_profile, scan_camera
from vigil.core.errors import ConfigError


def bench_video(video: str, camera_id: str, overrides: Overrides, *, max_seconds: float | None = None,
                engram: bool = True) -> Any:
    """Decode-only vs full-pipeline frames/s, time per stage and peak memory on ``video``."""
    from eval.bench import bench

    settings = overrides.settings()
    camera, data = camera_and_data(settings, camera_id)
    profile = load_profile(data, camera_id)
    return bench(video, profile, scan_camera(profile, camera), max_seconds=max_seconds,
                 use_engram=engram, models_dir=settings.model_cache)


@dataclass
class AskBenchRequest:
    """What ``vigil bench --ask`` times."""

    question: str
    video: str | None = None
    camera: str | None = None
    all_cameras: bool = False
    repeat: int = 5
    models: ModelOptions = field(default_factory=ModelOptions)


def bench_ask(request: AskBenchRequest, overrides: Overrides, *, started_at: float,
              progress: VideoProgress = no_video_progress) -> tuple[dict[str, Any], list[float], float, float]:
    """Time answering a question (the video, if given, is indexed first and timed apart).

    Args:
        started_at: ``time.perf_counter()`` when the command started (for the whole-command time).

    Returns:
        The report ``--json`` prints, the answer times, the set-up and the indexing seconds.
    """
    from agents.ask import AskContext
    from vigil.core.store import DataDir

    if request.repeat < 1:
        raise ConfigError(f"--repeat {request.repeat}: must be at least 1")
    settings = overrides.settings()
    data = DataDir(settings.data_dir)
    started = time.perf_counter()
    with data.open_store() as store:
        scope = resolve_scope(store, data, video=request.video, camera=request.camera, all_cameras=request.all_cameras)
        asker = Asker(settings, data, store, models=request.models, progress=progress)
        try:
            setup_s = time.perf_counter() - started
            index_s = 0.0
            for video in scope.videos:  # index first: the target is for footage already indexed
                if not AskContext(store, scope).indexed(video, scope.cameras[0]):
                    t0 = time.perf_counter()
                    asker.scan(video, scope.cameras[0])
                    index_s += time.perf_counter() - t0
            times, answer = [], None
            for _ in range(request.repeat):
                t0 = time.perf_counter()
                answer, _ = asker.graph(scope).ask(request.question)
                times.append(time.perf_counter() - t0)
        finally:
            asker.close()
    report = {"question": request.question, "scope": scope.describe(), "backend": asker.runtime.backend_label,
              "found": answer.found if answer else False, "citations": len(answer.citations) if answer else 0,
              "setup_s": round(setup_s, 3), "index_s": round(index_s, 2),
              "first_answer_s": round(times[0], 3), "answer_s_median": round(statistics.median(times), 3),
              "answer_s_max": round(max(times), 3), "repeats": len(times), "target_s": 5.0,
              "within_target": max(times) + setup_s < 5.0,
              "command_s": round(time.perf_counter() - started_at - sum(times[1:]) - index_s, 2)}
    return report, times, setup_s, index_s
