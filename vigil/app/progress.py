"""How services report progress without drawing anything: callbacks and per-task factories.

A service that works through several items (sources, videos) takes a *task factory*: called
with the item's name, it gives a context manager whose value is the callback for that item.
The command line hands in factories that draw bars (:mod:`vigil.cli.progress`); the server and
tests hand in none, and nothing is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

#: a task per video: its name in, a callback of the video seconds reached out
VideoProgress = Callable[[str], AbstractContextManager[Callable[[float], None]]]
#: a training progress callback: (stage, step, total steps, loss)
TrainingProgress = Callable[[str, int, int, float], None]


def _nothing(*_: Any, **__: Any) -> None:
    return None


@contextmanager
def no_video_progress(_name: str) -> Iterator[Callable[[float], None]]:
    """A :data:`VideoProgress` that reports nowhere."""
    yield _nothing


def nothing(*_: Any, **__: Any) -> None:
    """A progress callback that reports nowhere."""
    return None


#: a task per training stage: its name in (``meta``, a scorer's name), a :data:`TrainingProgress` out
TrainingTask = Callable[[str], AbstractContextManager[TrainingProgress]]


@contextmanager
def no_training_task(_stage: str) -> Iterator[TrainingProgress]:
    """A :data:`TrainingTask` that reports nowhere."""
    yield _nothing


#: a counting progress task: the total (``None``: unknown) in, a callback of items done (``n=1``) out
CountTask = Callable[[Any], AbstractContextManager[Callable[..., Any]]]


@contextmanager
def count_task(task: CountTask | None, total: Any = None) -> Iterator[Callable[..., Any]]:
    """``task(total)``'s callback, or one that reports nowhere when there is no task."""
    if task is None:
        yield _nothing
        return
    with task(total) as tick:
        yield tick
