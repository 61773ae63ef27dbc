"""Datasets: a synthetic camera with ground truth (``vigil data synth``) and footage remade at a
fixed size, rate and length (``vigil data video``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.app.progress import CountTask, count_task
from vigil.core.errors import DataError, VideoError


def frame_size(text: str) -> tuple[int, int]:
    """``--size WIDTHxHEIGHT`` as two integers."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise DataError(f"--size {text}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    return w, h


@dataclass
class SynthRequest:
    """What ``vigil data synth`` renders (its options, by name)."""

    out: str
    seed: int = 0
    train: int = 4
    per_type: int = 1
    normal: int = 3
    types: Sequence[str] | None = None
    duration: float = 45.0
    fps: float = 15.0
    size: str = "320x240"
    force: bool = False


def synth(request: SynthRequest, rendering: CountTask | None = None) -> dict[str, Any]:
    """Render a synthetic camera into ``request.out``; its summary (with ``seconds``).

    Args:
        rendering: a progress task over the frames to render.
    """
    from data_engine.synthetic import SynthSpec, plan_dataset, synthesize

    w, h = frame_size(request.size)
    for flag, value in (("--train", request.train), ("--per-type", request.per_type), ("--normal", request.normal)):
        if value < 0:
            raise DataError(f"{flag} {value}: must be 0 or more")
    try:
        spec = SynthSpec(
            seed=request.seed, n_train=request.train, per_type=request.per_type, n_normal_test=request.normal,
            duration=request.duration, fps=request.fps, width=w, height=h,
            types=tuple(request.types) if request.types else SynthSpec.types,
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None
    out = Path(request.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a folder")
    _layout, plans = plan_dataset(spec)
    total = sum(int(round(p.duration * p.fps)) for p in plans)
    started = time.perf_counter()
    with count_task(rendering, total) as progress:
        summary = synthesize(spec, out, progress=progress, force=request.force)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


@dataclass
class VideoRequest:
    """What ``vigil data video`` writes."""

    sources: Sequence[str]
    out: str
    size: str = "1280x720"
    fps: float = 25.0
    seconds: float = 160.0
    folder_fps: float | None = None


def remaster(request: VideoRequest, writing: CountTask | None = None) -> dict[str, Any]:
    """Write ``request.sources`` as one MP4 of a fixed size, rate and length; its summary."""
    from data_engine.media import remaster as write

    w, h = frame_size(request.size)
    for src in request.sources:
        if not Path(src).exists():
            raise VideoError(f"{src}: not found")
    total = int(round(request.seconds * request.fps)) if request.fps > 0 and request.seconds > 0 else None
    with count_task(writing, total) as progress:
        return write(request.sources, request.out, (w, h), fps=request.fps, seconds=request.seconds,
                     folder_fps=request.folder_fps, progress=progress)
