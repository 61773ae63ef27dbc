"""YOLO11n (COCO-80) on ONNX Runtime: an optional, stronger detector than the embedded default.

Ultralytics YOLO11n exported to ONNX with a dynamic input size, from the model cache
(``vigil models pull yolo11n``, see :mod:`perception.detect.weights`). It finds small, far
people and objects that YOLOv3-tiny misses (COCO mAP 39.5 against about 17), and its boxes hold
the whole person where YOLOv3-tiny's of small people often cover the torso. Its weights are licensed AGPL-3.0 by
Ultralytics, so Vigil never fetches or chooses it unless the camera asks for it
(``detection.detector: yolo11n``).

The network sees the frame as YOLOv3-tiny does (:class:`perception.detect.yolo.GridDetector`:
``input_size`` on the long side, chosen at fitting time from the camera's people); its output
is one row per anchor point, ``cx, cy, w, h`` in network pixels and 80 class scores (no
objectness, no suppression inside the network).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np

from perception.detect import group_matrix, register_detector
from perception.detect.weights import YOLO11N, WeightsError
from perception.detect.yolo import COCO_CLASSES, GridDetector, check_input_size, onnx_session

ONNX_FILE = "yolo11n.onnx"


def decode_anchor_free(output: np.ndarray, min_confidence: float) -> np.ndarray:
    """Candidate rows ``cx, cy, w, h``, the best class score, the class scores from an
    Ultralytics detection head's output ``(1, 4 + classes, anchors)``, only those whose best
    class reaches ``min_confidence``."""
    rows = np.asarray(output, np.float32)[0].T
    scores = rows[:, 4:]
    best = scores.max(axis=1)
    keep = best >= min_confidence
    return np.concatenate([rows[keep, :4], best[keep, None], scores[keep]], axis=1)


@register_detector("yolo11n")
class Yolo11n(GridDetector):
    """YOLO11n on ONNX Runtime (see the module docstring).

    Args:
        models_dir: the model cache holding ``yolo11n/``.
        input_size: the network input's long side in pixels (multiple of 32).
        min_confidence: detections below this class confidence are dropped here.
        nms: IoU above which a weaker box of the same class is suppressed.
        threads: ONNX Runtime threads.
    """

    #: its boxes hold the whole person, about twice as tall as YOLOv3-tiny's of the same small
    #: people (median 30 against 16 pixels on Ped2's training frames, where YOLOv3-tiny's cover
    #: the torso): twice the target keeps the same people at the same network scale
    person_px = 64.0

    def __init__(self, models_dir: str | Path | None = None, input_size: int = 640, min_confidence: float = 0.05,
                 nms: float = 0.45, threads: int = 1, **_: Any) -> None:
        if models_dir is None:
            raise WeightsError("the yolo11n detector needs the model cache; run: vigil models pull yolo11n")
        self.input_size = check_input_size(input_size)
        folder = YOLO11N.check(models_dir)
        self._session = onnx_session(folder / ONNX_FILE, threads, "the yolo11n detector")
        meta = self._session.get_modelmeta().custom_metadata_map
        try:
            names = ast.literal_eval(meta.get("names", "{}"))
        except (ValueError, SyntaxError):
            names = {}
        if len(names) != COCO_CLASSES:
            raise WeightsError(f"{folder / ONNX_FILE}: expected the COCO-80 class list in its metadata, found "
                               f"{len(names)} names; run: vigil models pull yolo11n --force")
        self.classes = tuple(str(names[i]) for i in sorted(names))
        self._groups = group_matrix(self.classes)
        self._input = self._session.get_inputs()[0].name
        self.models_dir = str(models_dir)
        self.threads = int(threads)
        self.min_confidence = float(min_confidence)
        self.nms = float(nms)

    def _rows(self, blob: np.ndarray, ox: int = 0, oy: int = 0) -> np.ndarray:
        raw = decode_anchor_free(self._session.run(None, {self._input: blob})[0], self.min_confidence)
        raw[:, 0] += ox
        raw[:, 1] += oy
        return raw

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "config": {"input_size": self.input_size, "min_confidence": self.min_confidence,
                                              "nms": self.nms}, "arrays": {}}
