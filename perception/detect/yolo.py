"""YOLOv3-tiny (COCO-80) on ONNX Runtime: the embedded default detector.

The Darknet files come from the model cache (:mod:`perception.detect.weights`, filled by
``vigil models pull``) and are hash-checked; ``pull`` also converts them once to ONNX
(:mod:`perception.detect.darknet`), which ONNX Runtime runs. Why not OpenCV's DNN module:
OpenCV 5 dropped its Darknet importer, and on this CPU ONNX Runtime runs the same network
2.5 times faster at 416 pixels and 1.7 times faster at 896,
with the same boxes and confidences (``tests/perception/data/yolov3_tiny_reference.json`` holds OpenCV
4's detections of one Ped2 frame, which the test checks against).

The network sees the frame at ``input_size`` pixels on its long side (a multiple of 32, the
aspect kept): small, far people need it larger (fitting chooses it from the person sizes of the
camera's normal footage, see :func:`input_size_for`).

With ``detection.precision: int8`` fitting quantises the network for the camera
(:meth:`YoloV3Tiny.quantize`): ONNX Runtime's static quantisation, int8 weights per output
channel and uint8 activations whose ranges are calibrated on the camera's own normal frames at
its input size. On CPUs with VNNI it runs about 2.4 times faster (91 against 219 ms at 1088x608
on one core here); its boxes differ slightly, so measure the camera's AUC before relying on it.
"""

from __future__ import annotations

import hashlib
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
from perception.detect.darknet import decode_yolo, parse_cfg
from perception.detect.weights import ONNX_NAME, YOLOV3_TINY, WeightsError
from vigil.core.imports import require

log = logging.getLogger(__name__)

COCO_CLASSES = 80
MIN_INPUT, MAX_INPUT = 320, 1280


def yolo_heads(cfg_text: str) -> list[Any]:
    """The YOLO heads of a Darknet cfg in output order (anchors in network pixels, class count)."""
    from perception.detect.darknet import YoloHead

    heads = []
    for kind, opt in parse_cfg(cfg_text):
        if kind == "yolo":
            mask = [int(v) for v in opt["mask"].split(",")]
            anchors = np.array([float(v) for v in opt["anchors"].split(",")], np.float32).reshape(-1, 2)[mask]
            heads.append(YoloHead("", anchors, int(opt["classes"])))
    return heads


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


class GridDetector(Detector):
    """A fully convolutional detector that sees the frame at ``input_size`` pixels on its long side
    (aspect kept, the short side on the network's 32-pixel grid), on ONNX Runtime: looking at
    parts of a frame (:meth:`detect_parts`), non-maximum suppression and class groups are the
    same for every such network; each says how its raw output becomes candidate rows
    (:meth:`_rows`). Subclasses set ``input_size``, ``min_confidence``, ``nms``, ``classes``,
    ``_groups`` (:func:`perception.detect.group_matrix` of the classes)."""

    input_size: int
    min_confidence: float
    nms: float
    _groups: np.ndarray
    #: how tall, in network pixels, the camera's smaller people should be in this network's own
    #: boxes (fitting chooses ``input_size`` by it, see :func:`input_size_for`)
    person_px: float = 32.0

    def _rows(self, blob: np.ndarray, ox: int = 0, oy: int = 0) -> np.ndarray:
        """Candidate rows ``cx, cy, w, h`` (network pixels of the whole view, ``ox, oy``: where
        ``blob`` sits in it), a score, the class scores; only those above ``min_confidence``."""
        raise NotImplementedError

    def scale_for(self, h: int, w: int) -> float:
        """Network pixels per image pixel (long side) for an ``h`` x ``w`` image seen whole."""
        return self.input_size / max(h, w, 1)

    def _shape(self, h: int, w: int) -> tuple[int, int]:
        """``(width, height)`` of the network input for an ``h`` x ``w`` image."""
        long = max(h, w)
        short = max(32, int(round(min(h, w) * self.input_size / long / 32.0)) * 32)
        return (self.input_size, short) if w >= h else (short, self.input_size)

    def _network_image(self, image: np.ndarray) -> np.ndarray:
        """The image at network resolution, ``(1, 3, nh, nw)`` floats in [0, 1] (frames arrive
        RGB, which is what the networks were trained on)."""
        h, w = image.shape[:2]
        nw, nh = self._shape(h, w)
        return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32).transpose(2, 0, 1)[None] / 255.0

    def _detections(self, raw: np.ndarray, sx: float, sy: float, w: int, h: int) -> Any:
        """Non-maximum suppression over candidate rows; boxes scaled by ``sx, sy`` into an image
        of ``w`` x ``h`` pixels."""
        if len(raw) == 0:
            return empty_detections()
        scores = raw[:, 5:]
        cls = scores.argmax(axis=1)
        conf = scores[np.arange(len(cls)), cls]
        boxes = np.stack([(raw[:, 0] - raw[:, 2] / 2) * sx, (raw[:, 1] - raw[:, 3] / 2) * sy, raw[:, 2] * sx,
                          raw[:, 3] * sy], axis=1)
        idx = np.asarray(cv2.dnn.NMSBoxesBatched(boxes.tolist(), conf.tolist(), cls.tolist(), self.min_confidence,
                                                 self.nms), int).reshape(-1)
        b = boxes[idx]
        xyxy = np.clip(np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1), 0, [w, h, w, h])
        return make_detections(xyxy, conf[idx], cls[idx], group_probabilities(scores[idx], self._groups))

    def detect(self, images: Sequence[np.ndarray]) -> list[Any]:
        out = []
        for image in images:
            h, w = image.shape[:2]
            blob = self._network_image(image)
            nh, nw = blob.shape[2:]
            out.append(self._detections(self._rows(blob), w / nw, h / nh, w, h))
        return out

    def detect_parts(self, image: np.ndarray, parts: np.ndarray) -> Any:
        """Detections in ``image`` from looking only at ``parts`` (``(N, 4)`` xyxy image pixels).

        The image is brought to network resolution as for :meth:`detect`, and each part is cut
        from that on the network's 32-pixel grid, so an object well inside a part meets the same
        cells, at the same scale, as when the whole image is seen; the network's cost follows
        the parts' area."""
        h, w = image.shape[:2]
        blob = self._network_image(image)
        nh, nw = blob.shape[2:]
        sx, sy = w / nw, h / nh
        rows = []
        for x1, y1, x2, y2 in np.asarray(parts, float).reshape(-1, 4):
            c0, r0 = int(x1 / sx // 32) * 32, int(y1 / sy // 32) * 32
            c1, r1 = min(nw, int(np.ceil(x2 / sx / 32)) * 32), min(nh, int(np.ceil(y2 / sy / 32)) * 32)
            c0, r0 = max(0, min(c0, c1 - 64)), max(0, min(r0, r1 - 64))  # at least two cells of the coarse head
            rows.append(self._rows(np.ascontiguousarray(blob[:, :, r0:r1, c0:c1]), c0, r0))
        return self._detections(np.concatenate(rows) if rows else np.zeros((0, 5 + len(self.classes)), np.float32),
                                sx, sy, w, h)


def onnx_session(path: Path, threads: int, what: str) -> Any:
    """An ONNX Runtime session on ``threads`` CPU threads; :class:`WeightsError` if it cannot load."""
    ort = require("onnxruntime", what)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own error classes
        raise WeightsError(f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0][:160]}; "
                           "run: vigil models pull --force") from None


def check_input_size(input_size: int) -> int:
    """``input_size`` if it is a multiple of 32 within the supported range; ``ValueError`` otherwise."""
    if not (MIN_INPUT <= int(input_size) <= MAX_INPUT and int(input_size) % 32 == 0):
        raise ValueError(f"input_size must be a multiple of 32 in [{MIN_INPUT}, {MAX_INPUT}], got {input_size}")
    return int(input_size)


@register_detector("yolov3-tiny")
class YoloV3Tiny(GridDetector):
    """YOLOv3-tiny on ONNX Runtime (see the module docstring).

    Args:
        models_dir: the model cache holding ``yolov3-tiny/``.
        input_size: the network input's long side in pixels (multiple of 32).
        min_confidence: detections below this class confidence are dropped here (the tracker
            uses its own, higher thresholds; low ones let it keep weak objects it already follows).
        nms: IoU above which a weaker box of the same class is suppressed.
        threads: ONNX Runtime threads (one: the decoder and the rest of the pipeline have the
            other core).
    """

    def __init__(self, models_dir: str | Path | None = None, input_size: int = 416, min_confidence: float = 0.05,
                 nms: float = 0.45, threads: int = 1, int8: str | None = None) -> None:
        if models_dir is None:
            raise WeightsError("the yolov3-tiny detector needs the model cache; run: vigil models pull")
        check_input_size(input_size)
        folder = YOLOV3_TINY.check(models_dir)
        names = [line.strip() for line in (folder / "coco.names").read_text(encoding="utf-8").splitlines() if line.strip()]
        cfg_text = (folder / "yolov3-tiny.cfg").read_text(encoding="utf-8")
        cfg_classes = {int(v) for v in re.findall(r"^\s*classes\s*=\s*(\d+)", cfg_text, re.M)}
        if len(names) != COCO_CLASSES or cfg_classes != {COCO_CLASSES}:
            raise WeightsError(f"{folder}: expected the COCO-80 class list, found {len(names)} names and classes="
                               f"{sorted(cfg_classes)} in the cfg; run: vigil models pull --force")
        onnx_path = folder / ONNX_NAME  # checked against its recorded sha256 by YOLOV3_TINY.check
        self._fp32_path = onnx_path
        if int8 is not None:
            onnx_path = folder / Path(int8).name
            if not onnx_path.is_file():
                raise WeightsError(f"{onnx_path} is missing (the camera's int8 detector, made when it was fitted "
                                   "with detection.precision int8); fit the camera again")
        self._session = onnx_session(onnx_path, threads, "the yolov3-tiny detector")
        self._heads = yolo_heads(cfg_text)
        self._input = self._session.get_inputs()[0].name
        self.classes = tuple(names)
        self._groups = group_matrix(self.classes)
        self.models_dir = str(models_dir)
        self.int8 = None if int8 is None else Path(int8).name
        self.threads = int(threads)
        self.input_size = int(input_size)
        self.min_confidence = float(min_confidence)
        self.nms = float(nms)

    def _rows(self, blob: np.ndarray, ox: int = 0, oy: int = 0) -> np.ndarray:
        """Candidate rows ``cx, cy, w, h`` (network pixels of the whole view, ``ox, oy``: where
        ``blob`` sits in it), objectness, class scores; only those above ``min_confidence``."""
        nh, nw = blob.shape[2:]
        outs = self._session.run(None, {self._input: blob})
        raw = np.concatenate([decode_yolo(o, head.anchors, head.classes, nw, nh) for o, head in zip(outs, self._heads)])
        raw = raw[raw[:, 5:].max(axis=1) >= self.min_confidence]
        raw[:, [0, 2]] *= nw
        raw[:, [1, 3]] *= nh
        raw[:, 0] += ox
        raw[:, 1] += oy
        return raw

    def state(self) -> dict[str, Any]:
        config = {"input_size": self.input_size, "min_confidence": self.min_confidence, "nms": self.nms}
        if self.int8:
            config["int8"] = self.int8
        return {"name": self.name, "config": config, "arrays": {}}

    def quantize(self, images: Sequence[np.ndarray]) -> YoloV3Tiny:
        """This detector with its network quantised to int8, calibrated on ``images`` (normal frames).

        The model goes to the model cache as ``yolov3-tiny-int8-<hash>.onnx`` (the hash of the
        calibration inputs, so the same camera fitted again reuses it) and is written under a
        temporary name first.
        """
        require("onnx", "quantising the yolov3-tiny detector")
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        if not images:
            raise ValueError("quantising the detector needs some normal frames to calibrate on")
        blobs = [self._network_image(im) for im in images]
        # the settings below are part of the name, so a file quantised otherwise is not reused
        digest = hashlib.sha256(f"{self.input_size}/qdq-u8s8-per-channel-reduce-range".encode())
        for b in blobs:
            digest.update(np.ascontiguousarray(b).tobytes())
        target = self._fp32_path.with_name(f"yolov3-tiny-int8-{digest.hexdigest()[:12]}.onnx")
        if not target.is_file():
            name = self._input

            class Reader(CalibrationDataReader):
                def __init__(self) -> None:
                    self._it = iter(blobs)

                def get_next(self) -> dict[str, np.ndarray] | None:
                    b = next(self._it, None)
                    return None if b is None else {name: b}

            pre = target.with_name(target.stem + ".pre.onnx")
            part = target.with_name(target.stem + ".part.onnx")
            try:
                quant_pre_process(str(self._fp32_path), str(pre), skip_symbolic_shape=True)
                # reduce_range (7-bit weights): without VNNI, x86 multiplies u8 by s8 in pairs
                # summed into int16, which saturates with full-range per-channel weights
                quantize_static(str(pre), str(part), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
                part.replace(target)
            finally:
                pre.unlink(missing_ok=True)
                part.unlink(missing_ok=True)
            log.info("detector quantised to int8 on %d normal frames: %s", len(blobs), target.name)
        return YoloV3Tiny(self.models_dir, self.input_size, self.min_confidence, self.nms, self.threads, int8=target.name)
