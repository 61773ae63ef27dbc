"""What one video is to show (its plan) and the ground truth its rendering gathered."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_engine.synthetic.actors import Actor, ScenePlanner
from data_engine.synthetic.anomalies import Scripted, script_anomaly
from data_engine.synthetic.layout import Layout


@dataclass
class VideoPlan:
    """Everything needed to render one video."""

    name: str
    split: str  # train | test
    duration: float
    fps: float
    actors: list[Actor]
    anomaly: Scripted | None
    light: tuple[float, float, float, float]  # base gain, amplitude, period, phase
    noise_sigma: float


def plan_video(layout: Layout, rng: np.random.Generator, name: str, split: str, duration: float, fps: float,
               anomaly: str | None) -> VideoPlan:
    """Choose the activity of one video."""
    planner = ScenePlanner(layout, rng)
    rate = float(rng.uniform(0.12, 0.22))
    actors = planner.normal_actors(duration, rate)
    scripted = script_anomaly(anomaly, planner, duration) if anomaly else None
    light = (
        float(rng.uniform(0.92, 1.06)),
        float(rng.uniform(0.03, 0.08)),
        float(rng.uniform(40.0, 120.0)),
        float(rng.uniform(0, 2 * math.pi)),
    )
    return VideoPlan(name, split, duration, fps, actors, scripted, light, float(rng.uniform(2.0, 4.0)))


@dataclass
class RenderedVideo:
    """Ground truth gathered while rendering one video."""

    name: str
    split: str
    path: str
    fps: float
    n_frames: int
    events: list[tuple[float, float, str]]
    labels: list[int]
    boxes: list[dict[str, Any]]
    facts: dict[str, Any]
