"""Foreground blobs as detections: for cameras no object detector fits, and for what it misses.

The camera's background (:class:`perception.source.background.BackgroundModel`, learned from its normal
footage at ``work_width`` pixels) gives a foreground mask; each connected region larger than
``min_area`` (a share of the frame) becomes a box of the ``unknown`` group with confidence 1.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from perception.detect import GROUPS, Detector, empty_detections, make_detections, register_detector
from perception.source.background import BackgroundModel, BackgroundSettings

log = logging.getLogger(__name__)

UNKNOWN = np.eye(len(GROUPS), dtype=np.float32)[GROUPS.index("unknown")]


def work_size(h: int, w: int, work_width: int) -> tuple[int, int]:
    """``(width, height)`` of the working resolution for an ``h`` x ``w`` frame."""
    return work_width, max(8, int(round(work_width * h / w)))


@register_detector("blobs")
class BlobDetector(Detector):
    """Foreground regions against the learned background (see the module docstring).

    Args:
        work_width: frames are analysed at this width.
        min_area: smallest region kept, as a share of the frame's area.
        background: a fitted background (from :meth:`fit` or a profile).
    """

    classes = ()

    def __init__(self, work_width: int = 160, min_area: float = 0.0003, background: BackgroundModel | None = None,
                 settings: dict[str, Any] | None = None) -> None:
        self.work_width = int(work_width)
        self.min_area = float(min_area)
        self.settings = BackgroundSettings(**(settings or {}))
        self.background = background

    def _work(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        size = work_size(h, w, self.work_width)
        return image if (w, h) == size else cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def fit(self, frames: Iterable[np.ndarray]) -> None:
        self.background = BackgroundModel.fit((self._work(f) for f in frames), self.settings)

    def regions(self, image: np.ndarray) -> np.ndarray:
        """``(N, 5)`` boxes ``x1, y1, x2, y2, area`` of the foreground regions, in ``image`` pixels."""
        if self.background is None:
            raise ValueError("the blob detector has no background: fit it on normal footage first")
        work = self._work(image)
        wh, ww = work.shape[:2]
        if self.background.shape != (wh, ww):
            # another camera's shape than the one fitted: its first frame stands in (as in the motion encoder)
            log.warning("frames of %dx%d do not match the fitted background's aspect; the first of them stands in for it",
                        image.shape[1], image.shape[0])
            self.background = BackgroundModel(work.astype(np.float32), None, self.settings)
        fg = self.background.foreground(work).astype(np.uint8)
        n, _labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        min_px = max(2.0, self.min_area * wh * ww)
        keep = [k for k in range(1, n) if stats[k, 4] >= min_px]
        if not keep:
            return np.zeros((0, 5), np.float32)
        s = stats[keep].astype(np.float32)
        sx, sy = image.shape[1] / ww, image.shape[0] / wh
        return np.stack([s[:, 0] * sx, s[:, 1] * sy, (s[:, 0] + s[:, 2]) * sx, (s[:, 1] + s[:, 3]) * sy,
                         s[:, 4] * sx * sy], axis=1)

    def detect(self, images: Sequence[np.ndarray]) -> list[Any]:
        out = []
        for image in images:
            r = self.regions(image)
            if len(r) == 0:
                out.append(empty_detections())
                continue
            out.append(make_detections(r[:, :4], np.ones(len(r), np.float32), np.full(len(r), -1),
                                       np.repeat(UNKNOWN[None], len(r), axis=0)))
        return out

    def state(self) -> dict[str, Any]:
        arrays = {f"background/{k}": v for k, v in (self.background.arrays() if self.background else {}).items()}
        return {"name": self.name, "config": {"work_width": self.work_width, "min_area": self.min_area,
                                              "settings": self.background.config() if self.background else {}},
                "arrays": arrays}

    @classmethod
    def from_state(cls, state: dict[str, Any], **runtime: Any) -> BlobDetector:
        cfg = dict(state.get("config", {}))
        arrays = {k.split("/", 1)[1]: v for k, v in state.get("arrays", {}).items() if k.startswith("background/")}
        background = BackgroundModel.restore(cfg.get("settings", {}), arrays) if "background" in arrays else None
        return cls(work_width=cfg.get("work_width", 160), min_area=cfg.get("min_area", 0.0003), background=background,
                   settings=cfg.get("settings"))
