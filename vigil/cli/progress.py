"""The command line's progress bars (tqdm on stderr, drawn only on a terminal): one helper for
every bar, and the adapters that turn a bar into the callbacks services take."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: a bar that counts seconds of video
VIDEO_SECONDS = "{desc}: {n:.0f} s of video [{elapsed}]"


@contextmanager
def bar(desc: str, *, unit: str, total: float | None = None, leave: bool = False,
        seconds: bool = False) -> Iterator[Any]:
    """A tqdm bar on stderr (disabled when stderr is not a terminal); ``seconds``: it counts
    seconds of video."""
    from tqdm import tqdm

    kw: dict[str, Any] = {"bar_format": VIDEO_SECONDS} if seconds else {}
    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None, leave=leave, **kw) as b:
        yield b


def at(b: Any) -> Callable[[float], None]:
    """A callback that moves ``b`` to a position (seconds of video, a step)."""
    def progress(position: float) -> None:
        b.n = position
        b.refresh()
    return progress


@contextmanager
def video_seconds(source: str, prefix: str = "", unit: str = "s") -> Iterator[Callable[[float], None]]:
    """A :data:`~vigil.app.progress.VideoProgress` task: a bar of the video seconds read of ``source``."""
    with bar(prefix + Path(str(source)).name, unit=unit, seconds=True) as b:
        yield at(b)


def indexing(source: str) -> Any:
    """The bar of a video indexed before a question is answered."""
    return video_seconds(source, "indexing ")


def training(b: Any) -> Callable[[str, int, int, float], None]:
    """A training progress callback (stage, step, total, loss) that drives ``b``."""
    def progress(stage: str, step: int, total: int, loss: float) -> None:
        if b.total != total or b.desc != stage:
            b.reset(total=total)
            b.set_description(stage)
        b.n = step
        b.set_postfix(loss=f"{loss:.4f}", refresh=False)
        b.refresh()
    return progress


@contextmanager
def fitting() -> Iterator[Callable[[float], None]]:
    """The bar of a fit: the seconds of normal video read so far."""
    with bar("fitting", unit="s video", seconds=True) as b:
        yield at(b)


@contextmanager
def training_task(stage: str) -> Iterator[Callable[[str, int, int, float], None]]:
    """A :data:`~vigil.app.progress.TrainingTask`: a bar of a training stage's steps and loss."""
    with bar(stage, unit="step") as b:
        yield training(b)


def counting(desc: str, unit: str) -> Callable[[Any], Any]:
    """A :data:`~vigil.app.progress.CountTask` factory: a bar counting ``unit`` up to its total."""
    @contextmanager
    def task(total: Any) -> Iterator[Callable[..., Any]]:
        with bar(desc, unit=unit, total=total) as b:
            yield b.update
    return task


@contextmanager
def fgclip_task(total: int | None) -> Iterator[Callable[[int, int, float, float], None]]:
    """The bar of FG-CLIP training: (step, total, global loss, region loss)."""
    with bar("fgclip", unit="step", total=total, leave=True) as b:
        def tick(step: int, total: int, g: float, r: float) -> None:
            b.n = step
            b.set_postfix(global_loss=f"{g:.3f}", region_loss=f"{r:.3f}")
        yield tick


@contextmanager
def vlm_task(total: int | None) -> Iterator[Callable[[int, int, float], None]]:
    """The bar of VLM training: (step, total, loss)."""
    with bar("vlm", unit="step", total=total, leave=True) as b:
        def tick(step: int, total: int, loss: float) -> None:
            b.total = total
            b.n = step
            b.set_postfix(loss=f"{loss:.3f}")
            b.refresh()
        yield tick
