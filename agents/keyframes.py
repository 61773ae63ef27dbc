"""Keyframes and descriptions of an event, shared by the alert tools and the ask tools.

:func:`save_keyframes` picks the most telling frames of a stretch of video with anomaly-focused
sampling (ATS) over per-frame scores and writes them as JPEGs; :func:`describe_event` asks the
vision-language model what keyframes show, with the ``describe`` prompt, and falls back to
other text (scene facts for a candidate event, the stored explanation for a stored one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from perception.sampler import AnomalyFocusedSampler
from perception.source.video import Frame
from prompts import load_prompt
from vigil.core.llm import VisionClient
from vigil.core.vision import Seen, vlm_or_fallback


def save_keyframes(frames: Sequence[Frame], scores: np.ndarray, n: int, folder: Path,
                   logger: logging.Logger | None = None) -> list[tuple[float, str]]:
    """``n`` of ``frames`` picked with ATS over ``scores`` (one per frame), saved as
    ``folder/keyframe_KK.jpg``; returns ``(time, path)`` of those written.

    Args:
        logger: where a JPEG that could not be written is reported (not at all without one).
    """
    idx = AnomalyFocusedSampler(dedupe=True).sample(scores, n)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, i in enumerate(idx.tolist()):
        path = folder / f"keyframe_{k:02d}.jpg"
        if not cv2.imwrite(str(path), cv2.cvtColor(frames[i].image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]):
            if logger is not None:
                logger.warning("could not write keyframe %s", path)
            continue
        out.append((round(frames[i].t, 2), str(path)))
    return out


def describe_event(vision: VisionClient | None, images: Callable[[], list[np.ndarray] | None], *, camera: str,
                   start_s: float, end_s: float, region: Sequence[float], fallback: Callable[[], str],
                   fallback_by: str, fallback_note: str | None = None, logger: logging.Logger | None = None) -> Seen:
    """What an event's keyframes show: the VLM's account (the ``describe`` prompt), else ``fallback``.

    Args:
        images: the keyframes as RGB arrays (read only with a VLM); ``None`` for none to show.
        region: the event's box (normalised xyxy), told to the VLM.
        fallback_by: who the fallback text is by; ``fallback_note`` names it in the warning.
    """
    def prompt(n: int) -> tuple[str, str]:
        return load_prompt("describe").render(n_frames=n, camera=camera, start_s=f"{start_s:.1f}", end_s=f"{end_s:.1f}",
                                              region=[round(v, 2) for v in region])

    return vlm_or_fallback(vision, images, prompt, fallback, fallback_by=fallback_by, fallback_note=fallback_note,
                           logger=logger)


def read_rgb(paths: Sequence[str]) -> list[np.ndarray]:
    """The JPEGs at ``paths`` that can be read, as RGB arrays."""
    return [cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in (cv2.imread(p) for p in paths) if im is not None]
