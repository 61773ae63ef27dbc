"""Production detectors from other packages, given local weights (``pip install 'vigil[detect]'``).

Neither is imported unless chosen (``detection.detector: ultralytics`` or ``rfdetr``, with
``detection.weights: /path/to/model.pt``); nothing is fetched from a hub. Both run batched on
whatever device their package picks (a GPU when there is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from perception.detect import (
    GROUPS,
    Detector,
    empty_detections,
    group_of,
    make_detections,
    register_detector,
)
from perception.detect.weights import WeightsError
from vigil.core.imports import require


def _weights(path: str | None, what: str) -> Path:
    if not path:
        raise WeightsError(f"the {what} detector needs a local weights file: set detection.weights")
    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(f"{what} weights not found: {p}; set detection.weights to a local file")
    return p


def _one_hot(names: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(names), len(GROUPS)), np.float32)
    for i, n in enumerate(names):
        out[i, GROUPS.index(group_of(n))] = 1.0
    return out


@register_detector("ultralytics")
class UltralyticsDetector(Detector):
    """An Ultralytics YOLO model (``.pt``) from a local file."""

    def __init__(self, weights: str | None = None, min_confidence: float = 0.1, input_size: int = 640, **_: Any) -> None:
        path = _weights(weights, "ultralytics")
        ultralytics = require("ultralytics", "the ultralytics detector")
        try:
            self._model = ultralytics.YOLO(str(path))
        except Exception as exc:  # its loader raises many kinds
            raise WeightsError(f"ultralytics cannot load {path}: {str(exc).splitlines()[0][:160]}") from None
        names = self._model.names
        self.classes = tuple(names[i] for i in sorted(names)) if isinstance(names, dict) else tuple(names)
        self.weights, self.min_confidence, self.input_size = str(path), float(min_confidence), int(input_size)

    def detect(self, images: Sequence[np.ndarray]) -> list[Any]:
        if not images:
            return []
        # ultralytics expects BGR numpy images
        results = self._model.predict([np.ascontiguousarray(im[..., ::-1]) for im in images], conf=self.min_confidence,
                                      imgsz=self.input_size, verbose=False)
        out = []
        for r in results:
            b = r.boxes
            if b is None or len(b) == 0:
                out.append(empty_detections())
                continue
            cls = b.cls.cpu().numpy().astype(int)
            out.append(make_detections(b.xyxy.cpu().numpy(), b.conf.cpu().numpy(), cls,
                                       _one_hot([self.classes[c] for c in cls])))
        return out

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "config": {"weights": self.weights, "min_confidence": self.min_confidence,
                                              "input_size": self.input_size}, "arrays": {}}


@register_detector("rfdetr")
class RFDETRDetector(Detector):
    """An RF-DETR model from a local checkpoint (COCO classes)."""

    def __init__(self, weights: str | None = None, min_confidence: float = 0.3, size: str = "base", **_: Any) -> None:
        path = _weights(weights, "rfdetr")
        rfdetr = require("rfdetr", "the rfdetr detector")
        model_cls = {"base": "RFDETRBase", "large": "RFDETRLarge"}.get(size)
        if model_cls is None or not hasattr(rfdetr, model_cls):
            raise WeightsError(f"rfdetr has no model size {size!r}; use base or large")
        try:
            self._model = getattr(rfdetr, model_cls)(pretrain_weights=str(path))
        except Exception as exc:  # its loader raises many kinds
            raise WeightsError(f"rfdetr cannot load {path}: {str(exc).splitlines()[0][:160]}") from None
        names = getattr(rfdetr.util.coco_classes, "COCO_CLASSES", {}) if hasattr(rfdetr, "util") else {}
        self._names = dict(names) if isinstance(names, dict) else {i: n for i, n in enumerate(names)}
        self.classes = tuple(self._names[i] for i in sorted(self._names))
        self.weights, self.min_confidence, self.size = str(path), float(min_confidence), size

    def detect(self, images: Sequence[np.ndarray]) -> list[Any]:
        out = []
        for image in images:
            det = self._model.predict(image, threshold=self.min_confidence)
            if det is None or len(det) == 0:
                out.append(empty_detections())
                continue
            cls = np.asarray(det.class_id, int)
            out.append(make_detections(det.xyxy, det.confidence, cls, _one_hot([self._names.get(int(c), "") for c in cls])))
        return out

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "config": {"weights": self.weights, "min_confidence": self.min_confidence,
                                              "size": self.size}, "arrays": {}}
