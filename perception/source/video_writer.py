"""Writing frames as H.264 MP4 (PyAV). Import these names from :mod:`perception.source.video`."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from perception.source.frame_source import Frame
from vigil.core.errors import VideoError


class Mp4Writer:
    """H.264 MP4 writer (PyAV), RGB frames in; the index goes first so files play while loading."""

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        import av

        path.parent.mkdir(parents=True, exist_ok=True)
        # faststart puts the index first, so the file plays while it downloads (browsers, HTTP)
        self._container = av.open(str(path), mode="w", options={"movflags": "faststart"})
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        self._stream.width = width
        self._stream.height = height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": "20", "preset": "veryfast", "tune": "zerolatency"}
        self._av = av

    def write(self, rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame."""
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_clip(path: Path, frames: list[Frame], fps: float) -> Path:
    """Write ``frames`` (same size) as an H.264 MP4 at ``fps``; sizes are made even."""
    if not frames:
        raise VideoError(f"no frames to write to {path}")
    h, w = frames[0].image.shape[:2]
    w2, h2 = w - w % 2, h - h % 2
    with Mp4Writer(path, w2, h2, fps) as writer:
        for f in frames:
            writer.write(np.ascontiguousarray(f.image[:h2, :w2]))
    return path
