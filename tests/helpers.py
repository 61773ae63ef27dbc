"""Test helpers: small video files with known content and timestamps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def level(i: int) -> int:
    """Grey level that encodes frame number ``i`` (survives H.264 to within a few levels)."""
    return 16 + (6 * i) % 224


def decode_index(image: np.ndarray) -> int:
    """Frame number encoded by :func:`level` (for the first 37 frames of a cycle)."""
    return int(round((float(np.median(image)) - 16) / 6))


def write_clip(
    path: Path,
    n_frames: int,
    fps: float = 30.0,
    size: tuple[int, int] = (160, 120),
    pts_s: list[float] | None = None,
    codec: str = "libx264",
    faststart: bool = False,
) -> Path:
    """Write an MP4 whose frame ``i`` is flat grey :func:`level` ``(i)``.

    Args:
        pts_s: presentation time of every frame in seconds (variable frame rate); default
            ``i / fps``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(path), mode="w", options={"movflags": "faststart"} if faststart else {})
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    time_base = Fraction(1, 1000)
    stream.codec_context.time_base = time_base
    if codec == "libx264":
        stream.options = {"preset": "ultrafast", "crf": "10"}
    for i in range(n_frames):
        img = np.full((size[1], size[0], 3), level(i), np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        t = pts_s[i] if pts_s is not None else i / fps
        frame.pts = int(round(t * 1000))
        frame.time_base = time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path
