"""Rendering a video plan: frames with lighting drift and sensor noise, the MP4, its ground truth."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.synthetic.actors import Actor
from data_engine.synthetic.captions import video_facts
from data_engine.synthetic.drawing import draw_bag, draw_car, draw_person, render_background
from data_engine.synthetic.layout import Layout
from data_engine.synthetic.plans import RenderedVideo, VideoPlan
from perception.source.video import Mp4Writer
from vigil.core.schemas import frame_labels


class Renderer:
    """Renders video plans of one layout to frames."""

    def __init__(self, layout: Layout, seed: int) -> None:
        self.layout = layout
        rng = np.random.default_rng(seed)
        self.background = render_background(layout, rng)
        cam = layout.camera
        self._noise = [rng.normal(0.0, 1.0, (cam.height, cam.width, 3)).astype(np.float32) for _ in range(6)]
        self._rng = rng

    def frame(self, plan: VideoPlan, t: float, i: int, actors: list[Actor], clean: bool = False) -> tuple[np.ndarray, dict[int, tuple[float, float, float, float]]]:
        """Render the frame at time ``t``; returns the image and each drawn actor's pixel box."""
        base, amp, period, phase = plan.light
        gain = 1.0 if clean else base * (1.0 + amp * math.sin(2 * math.pi * t / period + phase))
        img = self.background.copy()
        boxes: dict[int, tuple[float, float, float, float]] = {}
        live = [(k, a) for k, a in enumerate(actors) if a.active(t)]
        live.sort(key=lambda ka: -ka[1].position(t)[1])  # far first
        cam = self.layout.camera
        for k, actor in live:
            if actor.kind == "person":
                boxes[k] = draw_person(img, cam, actor, t)
            elif actor.kind == "car":
                boxes[k] = draw_car(img, cam, actor, t)
            else:
                boxes[k] = draw_bag(img, cam, actor, t)
        if clean:
            return img, boxes
        out = img.astype(np.float32) * gain
        noise = self._noise[i % len(self._noise)]
        shift = (i * 7919) % (cam.width * cam.height)
        out += np.roll(noise.reshape(-1, 3), shift, axis=0).reshape(noise.shape) * plan.noise_sigma
        return np.clip(out, 0, 255).astype(np.uint8), boxes


def _visible(box: tuple[float, float, float, float], w: int, h: int, need: float = 0.5) -> bool:
    x1, y1, x2, y2 = box
    area = max(1e-6, (x2 - x1) * (y2 - y1))
    ix = max(0.0, min(x2, w) - max(x1, 0.0))
    iy = max(0.0, min(y2, h) - max(y1, 0.0))
    return ix * iy / area >= need


def render_video(renderer: Renderer, plan: VideoPlan, out_dir: Path, progress: Callable[[int], None] | None = None) -> RenderedVideo:
    """Render one plan to ``out_dir/<split>/<name>.mp4`` and return its ground truth."""
    cam = renderer.layout.camera
    n_frames = int(round(plan.duration * plan.fps))
    rel = f"{plan.split}/{plan.name}.mp4"
    writer = Mp4Writer(out_dir / rel, cam.width, cam.height, plan.fps)
    actors = list(plan.actors)
    key_idx: list[int] = []
    if plan.anomaly:
        key_idx = [len(actors) + k for k in plan.anomaly.key_actors]
        actors += plan.anomaly.actors
    in_event: list[int] = []
    key_boxes: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = {}
    try:
        for i in range(n_frames):
            t = i / plan.fps
            img, boxes = renderer.frame(plan, t, i, actors)
            writer.write(img)
            if plan.anomaly:
                s, e = plan.anomaly.span
                seen = [k for k in key_idx if k in boxes and _visible(boxes[k], cam.width, cam.height)]
                if s <= t < e and seen:
                    in_event.append(i)
                    key_boxes[i] = [(k, boxes[k]) for k in seen]
            if progress:
                progress(1)
    finally:
        writer.close()
    events: list[tuple[float, float, str]] = []
    box_rows: list[dict[str, Any]] = []
    if plan.anomaly and in_event:
        start = in_event[0] / plan.fps
        end = min(plan.duration, (in_event[-1] + 1) / plan.fps)
        events.append((round(start, 6), round(end, 6), plan.anomaly.kind))
    labels = frame_labels(events, n_frames, plan.fps)
    for i, flag in enumerate(labels):
        if flag and i in key_boxes:
            for _k, (x1, y1, x2, y2) in key_boxes[i]:
                bbox = [max(0.0, x1) / cam.width, max(0.0, y1) / cam.height, min(cam.width, x2) / cam.width, min(cam.height, y2) / cam.height]
                box_rows.append({"frame": i, "event": 0, "bbox": [round(b, 4) for b in bbox]})
    facts = video_facts(plan, renderer.layout, events)
    return RenderedVideo(plan.name, plan.split, rel, plan.fps, n_frames, events, labels, box_rows, facts)
