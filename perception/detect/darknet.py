"""Darknet (``.cfg`` + ``.weights``) to ONNX, once, when the model files are pulled.

The network is rebuilt layer by layer with ``onnx.helper`` (convolutions with their batch
normalisation folded in, leaky ReLU, max pooling, route, upsample), with a free input height
and width; the YOLO heads stay raw convolution outputs, decoded by :func:`decode_yolo` (grid,
anchors and sigmoids, as Darknet does). ONNX Runtime then runs it: on this kind of CPU about
2-3 times faster than OpenCV's Darknet importer, which OpenCV 5 no longer has anyway.
Supported: the layer types of YOLOv3 and YOLOv3-tiny's configuration files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class YoloHead:
    """One YOLO output: its anchors (network pixels) and class count."""

    output: str
    anchors: np.ndarray  # (A, 2)
    classes: int


@dataclass
class DarknetGraph:
    """What :func:`convert` learned from the cfg besides the graph."""

    heads: list[YoloHead] = field(default_factory=list)
    classes: int = 0


def parse_cfg(text: str) -> list[tuple[str, dict[str, str]]]:
    """Sections of a Darknet cfg, in order: ``(type, options)``."""
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            sections.append((m.group(1), {}))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1][1][key.strip()] = value.strip()
    return sections


def convert(cfg_path: str | Path, weights_path: str | Path, out_path: str | Path) -> DarknetGraph:
    """Write the ONNX model of a Darknet network to ``out_path`` (see the module docstring).

    Raises:
        ValueError: a layer type the converter does not know, or weights that do not fit the cfg.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sections = parse_cfg(Path(cfg_path).read_text(encoding="utf-8"))
    if not sections or sections[0][0] != "net":
        raise ValueError(f"{cfg_path}: a Darknet cfg starts with [net]")
    data = Path(weights_path).read_bytes()
    major, minor, _rev = np.frombuffer(data[:12], np.int32)
    offset = 12 + (8 if major * 10 + minor >= 2 else 4)
    weights = np.frombuffer(data[offset:], np.float32)
    pos = 0

    def take(n: int) -> np.ndarray:
        nonlocal pos
        if pos + n > weights.size:
            raise ValueError(f"{weights_path}: the weights end before the cfg's layers do")
        out = weights[pos:pos + n]
        pos += n
        return out

    nodes: list[Any] = []
    inits: list[Any] = []
    outputs: list[str] = []  # per layer, its output tensor name
    channels: list[int] = []
    graph = DarknetGraph()
    prev, prev_c = "images", int(sections[0][1].get("channels", 3))
    for i, (kind, opt) in enumerate(sections[1:]):
        name = f"l{i}"
        if kind == "convolutional":
            filters, size = int(opt["filters"]), int(opt["size"])
            stride = int(opt.get("stride", 1))
            pad = size // 2 if int(opt.get("pad", 0)) else int(opt.get("padding", 0))
            bn = int(opt.get("batch_normalize", 0))
            bias = take(filters).copy()
            if bn:
                scale, mean, var = take(filters), take(filters), take(filters)
            w = take(filters * prev_c * size * size).reshape(filters, prev_c, size, size).copy()
            if bn:  # fold the batch norm as Darknet computes it: (x - mean) / (sqrt(var) + 1e-6) * scale + bias
                k = scale / (np.sqrt(var) + 1e-6)
                w *= k[:, None, None, None]
                bias = bias - mean * k
            inits += [numpy_helper.from_array(w.astype(np.float32), f"{name}.w"),
                      numpy_helper.from_array(bias.astype(np.float32), f"{name}.b")]
            conv = f"{name}.conv"
            nodes.append(helper.make_node("Conv", [prev, f"{name}.w", f"{name}.b"], [conv], kernel_shape=[size, size],
                                          strides=[stride, stride], pads=[pad, pad, pad, pad]))
            act = opt.get("activation", "linear")
            if act == "leaky":
                nodes.append(helper.make_node("LeakyRelu", [conv], [name], alpha=0.1))
            elif act == "linear":
                nodes.append(helper.make_node("Identity", [conv], [name]))
            else:
                raise ValueError(f"{cfg_path}: activation {act!r} is not supported")
            prev, prev_c = name, filters
        elif kind == "maxpool":
            size, stride = int(opt["size"]), int(opt.get("stride", 1))
            # Darknet pads size - 1 in total, on the bottom and right for a stride of 1
            extra = size - 1 if stride == 1 else 0
            nodes.append(helper.make_node("MaxPool", [prev], [name], kernel_shape=[size, size], strides=[stride, stride],
                                          pads=[0, 0, extra, extra]))
            prev = name
        elif kind == "route":
            layers = [int(v) for v in opt["layers"].split(",")]
            idx = [lay if lay >= 0 else i + lay for lay in layers]
            if len(idx) == 1:
                nodes.append(helper.make_node("Identity", [outputs[idx[0]]], [name]))
            else:
                nodes.append(helper.make_node("Concat", [outputs[j] for j in idx], [name], axis=1))
            prev, prev_c = name, sum(channels[j] for j in idx)
        elif kind == "upsample":
            stride = float(opt.get("stride", 2))
            inits.append(numpy_helper.from_array(np.array([1.0, 1.0, stride, stride], np.float32), f"{name}.scales"))
            nodes.append(helper.make_node("Resize", [prev, "", f"{name}.scales"], [name], mode="nearest"))
            prev = name
        elif kind == "yolo":
            mask = [int(v) for v in opt["mask"].split(",")]
            anchors = np.array([float(v) for v in opt["anchors"].split(",")], np.float32).reshape(-1, 2)[mask]
            classes = int(opt["classes"])
            graph.heads.append(YoloHead(prev, anchors, classes))
            graph.classes = classes
            nodes.append(helper.make_node("Identity", [prev], [name]))
            prev = name
        else:
            raise ValueError(f"{cfg_path}: layer type [{kind}] is not supported")
        outputs.append(prev)
        channels.append(prev_c)
    if pos != weights.size:
        raise ValueError(f"{weights_path}: {weights.size - pos} weights are left over after the cfg's layers")
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, int(sections[0][1].get("channels", 3)), "h", "w"])
    outs = [helper.make_tensor_value_info(h.output, TensorProto.FLOAT, [1, len(h.anchors) * (5 + h.classes), f"gh{k}", f"gw{k}"])
            for k, h in enumerate(graph.heads)]
    model = helper.make_model(helper.make_graph(nodes, "darknet", [inp], outs, inits),
                              opset_imports=[helper.make_opsetid("", 13)], producer_name="vigil")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out_path = Path(out_path)
    tmp = out_path.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out_path)
    return graph


def decode_yolo(raw: np.ndarray, anchors: np.ndarray, classes: int, net_w: int, net_h: int) -> np.ndarray:
    """Rows ``cx, cy, w, h`` (normalised), objectness and class probabilities (objectness-weighted)
    from one head's raw output ``(1, A * (5 + classes), gh, gw)``, like OpenCV's region layer."""
    a = len(anchors)
    _, _, gh, gw = raw.shape
    p = raw.reshape(a, 5 + classes, gh, gw)
    sig = 1.0 / (1.0 + np.exp(-p))
    gx = (np.arange(gw)[None, :] + sig[:, 0]) / gw
    gy = (np.arange(gh)[:, None] + sig[:, 1]) / gh
    w = np.exp(np.clip(p[:, 2], -10, 10)) * anchors[:, 0, None, None] / net_w
    h = np.exp(np.clip(p[:, 3], -10, 10)) * anchors[:, 1, None, None] / net_h
    obj = sig[:, 4]
    cls = sig[:, 5:] * obj[:, None]
    rows = np.concatenate([np.stack([gx, gy, w, h, obj], axis=1), cls], axis=1)  # (A, 5 + C, gh, gw)
    return rows.transpose(0, 2, 3, 1).reshape(-1, 5 + classes).astype(np.float32)
