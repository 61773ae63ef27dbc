"""Asking the vision-language model about frames, with a fallback when it cannot answer.

One helper for every place that wants a VLM's account of some frames and has another source
of text when there is no VLM, nothing to show it, or the call fails (the alert tools' and the
ask graph's ``describe``, the footage engine's clip captions). A failed call is logged as a
warning naming what is used instead; nothing waits on a VLM that is marked down (its
:class:`~vigil.core.llm.CircuitBreaker` fails the call at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vigil.core.llm import LLMError, VisionClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seen:
    """What the frames show and who says so."""

    text: str
    by: str             # ``vlm:<model>``, or the fallback's name
    asked: bool = False  # whether the VLM was called (answered or not)

    @property
    def by_vlm(self) -> bool:
        """Whether the VLM's account is the text."""
        return self.by.startswith("vlm:")


def vlm_or_fallback(
    vision: VisionClient | None,
    frames: Callable[[], Sequence[np.ndarray] | None],
    prompt: Callable[[int], tuple[str, str]],
    fallback: Callable[[], str],
    *,
    fallback_by: str,
    task: str = "describe",
    fallback_note: str | None = None,
    tidy: Callable[[str], str] | None = None,
    logger: logging.Logger | None = None,
) -> Seen:
    """The VLM's account of some frames, else the fallback's text.

    Args:
        vision: the VLM, or ``None`` (then the fallback, without a call).
        frames: the RGB frames to show it (called only with a VLM); ``None`` when there is
            nothing to show (then the fallback, without a call and without a warning).
        prompt: ``n_frames -> (system, user)``, the messages that go with the frames.
        fallback: the text used when the VLM does not answer (called only then).
        fallback_by: who that text is by (``scene facts``, ``stored explanation``).
        task: what was asked, for the warning (``VLM describe failed ...``).
        fallback_note: how the warning names the fallback (default ``fallback_by``).
        tidy: applied to the VLM's reply; a reply it leaves empty falls back without a warning.
        logger: where the warning goes (the caller's module logger).
    """
    asked = False
    if vision is not None:
        images = frames()
        if images is not None:
            system, user = prompt(len(images))
            asked = True
            try:
                text = vision.describe(images, system, user)
                if tidy is not None:
                    text = tidy(text)
                if tidy is None or text:
                    return Seen(text, f"vlm:{vision.model}", asked)
            except LLMError as exc:
                (logger or log).warning("VLM %s failed (%s); using %s", task, exc, fallback_note or fallback_by)
    return Seen(fallback(), fallback_by, asked)
