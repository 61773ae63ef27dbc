"""YOLOv3-tiny (COCO-80) through OpenCV's DNN module: the embedded default detector.

The Darknet files come from the model cache (:mod:`perception.detect.weights`, filled by
``vigil models pull``) and are hash-checked before they are read. OpenCV 4.x reads Darknet
files directly (``cv2.dnn.readNetFromDarknet``); OpenCV 5 dropped that importer, which is why
the project pins ``opencv-python<5``: a conversion to ONNX would need a model converter (or
torch) at pull time for no gain on this network, which 4.x runs in 30-90 ms per frame on two
CPU cores.

The network sees the frame at ``input_size`` pixels on its long side (a multiple of 32, the
aspect kept): small, far people need it larger (``fit`` sets it from the person sizes of the
camera's normal footage, see :func:`input_size_for`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.detect import (
    Detector,
    empty_detections,
    group_matrix,
    group_probabilities,
    make_detections,
    register_detector,
)
from perception.detect.weights import YOLOV3_TINY, WeightsError

log = logging.getLogger(__name__)

COCO_CLASSES = 80
MIN_INPUT, MAX_INPUT = 320, 1280


def input_size_for(person_heights_px: np.ndarray, frame_long_px: int, target_px: float = 32.0,
                   default: int = 416) -> int:
    """The network input (long side, pixels) at which the smaller people of a camera are
    ``target_px`` tall: small objects are what a fixed small input misses.

    Args:
        person_heights_px: heights of people detected in normal frames, in frame pixels.
        frame_long_px: the long side of those frames.
    """
    heights = np.asarray(person_heights_px, float)
    heights = heights[heights > 0]
    if heights.size < 20:
        return default
    small = float(np.quantile(heights, 0.1))
    scale = target_px / max(small, 1.0)
    size = int(round(frame_long_px * scale / 32.0)) * 32
    return int(min(MAX_INPUT, max(MIN_INPUT, size)))


@register_detector("yolov3-tiny")
class YoloV3Tiny(Detector):
    """YOLOv3-tiny on OpenCV DNN (see the module docstring).

    Args:
        models_dir: the model cache holding ``yolov3-tiny/``.
        input_size: the network input's long side in pixels (multiple of 32).
        min_confidence: detections below this class confidence are dropped here (the tracker
            uses its own, higher thresholds; low ones let it keep weak objects it already follows).
        nms: IoU above which a weaker box of the same class is suppressed.
    """

    def __init__(self, models_dir: str | Path | None = None, input_size: int = 416, min_confidence: float = 0.05,
                 nms: float = 0.45) -> None:
        if models_dir is None:
            raise WeightsError("the yolov3-tiny detector needs the model cache; run: vigil models pull")
        if not (MIN_INPUT <= int(input_size) <= MAX_INPUT and int(input_size) % 32 == 0):
            raise ValueError(f"input_size must be a multiple of 32 in [{MIN_INPUT}, {MAX_INPUT}], got {input_size}")
        folder = YOLOV3_TINY.check(models_dir)
        names = [line.strip() for line in (folder / "coco.names").read_text(encoding="utf-8").splitlines() if line.strip()]
        cfg_classes = {int(v) for v in re.findall(r"^\s*classes\s*=\s*(\d+)", (folder / "yolov3-tiny.cfg").read_text(), re.M)}
        if len(names) != COCO_CLASSES or cfg_classes != {COCO_CLASSES}:
            raise WeightsError(f"{folder}: expected the COCO-80 class list, found {len(names)} names and classes="
                               f"{sorted(cfg_classes)} in the cfg; run: vigil models pull --force")
        try:
            self._net = cv2.dnn.readNetFromDarknet(str(folder / "yolov3-tiny.cfg"), str(folder / "yolov3-tiny.weights"))
        except (AttributeError, cv2.error) as exc:
            if not hasattr(cv2.dnn, "readNetFromDarknet"):
                raise WeightsError(f"OpenCV {cv2.__version__} cannot read Darknet models; install opencv-python<5 "
                                   "(pip install 'opencv-python>=4.8,<5')") from None
            raise WeightsError(f"OpenCV cannot load {folder}: {str(exc).splitlines()[0][:160]}; "
                               "run: vigil models pull --force") from None
        self._outputs = self._net.getUnconnectedOutLayersNames()
        self.classes = tuple(names)
        self._groups = group_matrix(self.classes)
        self.models_dir = str(models_dir)
        self.input_size = int(input_size)
        self.min_confidence = float(min_confidence)
        self.nms = float(nms)

    def _shape(self, h: int, w: int) -> tuple[int, int]:
        long = max(h, w)
        short = max(32, int(round(min(h, w) * self.input_size / long / 32.0)) * 32)
        return (self.input_size, short) if w >= h else (short, self.input_size)

    def detect(self, images: Sequence[np.ndarray]) -> list[Any]:
        out = []
        for image in images:
            h, w = image.shape[:2]
            size = self._shape(h, w)
            # frames arrive RGB, which is what the network was trained on: no channel swap
            blob = cv2.dnn.blobFromImage(image, 1 / 255.0, size, swapRB=False, crop=False)
            self._net.setInput(blob)
            raw = np.concatenate([o.reshape(-1, o.shape[-1]) for o in self._net.forward(self._outputs)])
            scores = raw[:, 5:]
            cls = scores.argmax(axis=1)
            conf = scores[np.arange(len(cls)), cls]
            keep = conf >= self.min_confidence
            if not keep.any():
                out.append(empty_detections())
                continue
            r, cls, conf, scores = raw[keep], cls[keep], conf[keep], scores[keep]
            boxes = np.stack([(r[:, 0] - r[:, 2] / 2) * w, (r[:, 1] - r[:, 3] / 2) * h, r[:, 2] * w, r[:, 3] * h], axis=1)
            idx = np.asarray(cv2.dnn.NMSBoxesBatched(boxes.tolist(), conf.tolist(), cls.tolist(), self.min_confidence,
                                                     self.nms), int).reshape(-1)
            b = boxes[idx]
            xyxy = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)
            xyxy = np.clip(xyxy, 0, [w, h, w, h])
            out.append(make_detections(xyxy, conf[idx], cls[idx], group_probabilities(scores[idx], self._groups)))
        return out

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "config": {"input_size": self.input_size, "min_confidence": self.min_confidence,
                                              "nms": self.nms}, "arrays": {}}

    @classmethod
    def from_state(cls, state: dict[str, Any], **runtime: Any) -> YoloV3Tiny:
        return cls(models_dir=runtime.get("models_dir"), **state.get("config", {}))
