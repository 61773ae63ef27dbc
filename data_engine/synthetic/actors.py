"""Actors and normal activity: looks, keypoint trajectories and the planner of passers-by and cars."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_engine.synthetic.layout import Layout, plan_route

# Named colours (RGB) so captions can say what they show.
CLOTHES: dict[str, tuple[int, int, int]] = {
    "red": (178, 34, 34),
    "blue": (40, 70, 170),
    "green": (40, 120, 60),
    "yellow": (215, 185, 40),
    "white": (225, 225, 220),
    "black": (28, 28, 30),
    "grey": (120, 120, 125),
    "orange": (220, 110, 30),
    "purple": (110, 50, 140),
    "brown": (110, 70, 40),
    "navy": (25, 35, 80),
}
TROUSERS = ("black", "navy", "grey", "brown", "blue")
SKIN = ((224, 188, 160), (198, 150, 116), (150, 105, 75), (100, 68, 50))
CAR_COLOURS = ("white", "black", "grey", "red", "blue")


@dataclass
class Keypoint:
    """The actor is at (x, z) at time t and moves with ``gait`` until the next keypoint."""

    t: float
    x: float
    z: float
    gait: str = "walk"  # walk | run | stand | fight | fall | lie | drive


@dataclass
class Actor:
    """A pedestrian, a car or a dropped bag, with a piecewise-linear trajectory."""

    kind: str  # person | car | bag
    keys: list[Keypoint]
    looks: dict[str, Any] = field(default_factory=dict)
    bag_drop_t: float | None = None  # person: carries a bag until this time
    fall_dir: float = 1.0
    phase0: float = 0.0
    role: str = "normal"

    def __post_init__(self) -> None:
        self._t = np.array([k.t for k in self.keys])
        pts = np.array([[k.x, k.z] for k in self.keys])
        self._p = pts
        steps = np.linalg.norm(np.diff(pts, axis=0), axis=1) if len(pts) > 1 else np.zeros(0)
        self._dist = np.concatenate([[0.0], np.cumsum(steps)])

    @property
    def t_start(self) -> float:
        return float(self._t[0])

    @property
    def t_end(self) -> float:
        return float(self._t[-1])

    def segment(self, t: float) -> int:
        return int(np.clip(np.searchsorted(self._t, t, side="right") - 1, 0, len(self.keys) - 1))

    def position(self, t: float) -> tuple[float, float]:
        x = float(np.interp(t, self._t, self._p[:, 0]))
        z = float(np.interp(t, self._t, self._p[:, 1]))
        return x, z

    def distance(self, t: float) -> float:
        return float(np.interp(t, self._t, self._dist))

    def gait(self, t: float) -> str:
        return self.keys[self.segment(t)].gait

    def heading(self, t: float) -> tuple[float, float]:
        i = self.segment(t)
        if i >= len(self.keys) - 1:
            i = max(0, len(self.keys) - 2)
        d = self._p[min(i + 1, len(self._p) - 1)] - self._p[i]
        n = float(np.linalg.norm(d))
        return (float(d[0] / n), float(d[1] / n)) if n > 1e-6 else (1.0, 0.0)

    def active(self, t: float) -> bool:
        return self.t_start <= t <= self.t_end


def timed_keys(route: list[np.ndarray], t0: float, speed: float, gait: str = "walk") -> list[Keypoint]:
    """Keypoints along ``route`` starting at ``t0`` at constant ``speed``."""
    keys = [Keypoint(t0, float(route[0][0]), float(route[0][1]), gait)]
    t = t0
    for p in route[1:]:
        t += float(np.linalg.norm(p - np.array([keys[-1].x, keys[-1].z]))) / speed
        keys.append(Keypoint(t, float(p[0]), float(p[1]), gait))
    return keys


class ScenePlanner:
    """Draws random but plausible trajectories in one layout."""

    def __init__(self, layout: Layout, rng: np.random.Generator) -> None:
        self.layout = layout
        self.rng = rng
        self.cam = layout.camera

    # entry and exit points just outside the visible plaza
    def edge_point(self, side: str | None = None) -> np.ndarray:
        rng, cam = self.rng, self.cam
        side = side or str(rng.choice(["left", "right", "bottom", "left", "right"]))
        if side == "bottom":
            z = cam.z_near - 1.2
            return np.array([rng.uniform(-0.7, 0.7) * cam.half_width(z), z])
        z = rng.uniform(cam.z_near + 1.0, self.layout.plaza_far - 1.5)
        x = cam.half_width(z) + 0.8
        return np.array([-x if side == "left" else x, z])

    def plaza_point(self, avoid_zones: bool = True, margin: float = 1.0, clearance: float = 0.6) -> np.ndarray:
        """A random point on the plaza, ``clearance`` metres from obstacles (and zones)."""
        lay = self.layout
        for _ in range(200):
            z = self.rng.uniform(self.cam.z_near + margin, lay.plaza_far - margin)
            hw = self.cam.half_width(z) - margin
            p = np.array([self.rng.uniform(-hw, hw), z])
            blocked = [r.inflate(clearance) for r in lay.obstacles]
            if avoid_zones:
                blocked.append(lay.loiter.inflate(0.3))
            if not any(r.contains(float(p[0]), float(p[1])) for r in blocked):
                return p
        return np.array([0.0, (self.cam.z_near + lay.plaza_far) / 2])

    def looks(self, bag: bool | None = None) -> dict[str, Any]:
        rng = self.rng
        top = str(rng.choice(list(CLOTHES)))
        bottom = str(rng.choice([c for c in TROUSERS if c != top]))
        carry = bool(rng.random() < 0.25) if bag is None else bag
        return {
            "top": top,
            "bottom": bottom,
            "skin": SKIN[int(rng.integers(len(SKIN)))],
            "hair": (int(rng.integers(20, 90)),) * 3,
            "height": float(rng.uniform(1.6, 1.9)),
            "bag": carry,
            "bag_colour": str(rng.choice(["black", "brown", "navy", "red", "grey"])),
        }

    def pedestrian(self, t0: float) -> Actor:
        """A passer-by: edge to edge via a plaza point, sometimes pausing briefly."""
        rng = self.rng
        if rng.random() < 0.18:
            # along the far pavement, beyond the road
            z = rng.uniform(24.6, 25.4)
            x = self.cam.half_width(z) + 1.0
            a, b = (np.array([-x, z]), np.array([x, z])) if rng.random() < 0.5 else (np.array([x, z]), np.array([-x, z]))
            keys = timed_keys([a, b], t0, float(rng.uniform(1.1, 1.6)))
            return Actor("person", keys, self.looks(), phase0=float(rng.uniform(0, 6.3)))
        start = self.edge_point()
        end = self.edge_point()
        while np.linalg.norm(end - start) < 6.0:
            end = self.edge_point()
        via = self.plaza_point()
        speed = float(rng.uniform(1.1, 1.6))
        keys = timed_keys(plan_route([start, via], self.layout.obstacles), t0, speed)
        if rng.random() < 0.15:  # a short pause (phone, looking around)
            pause = float(rng.uniform(1.0, 3.0))
            keys[-1].gait = "stand"
            keys.append(Keypoint(keys[-1].t + pause, keys[-1].x, keys[-1].z, "walk"))
        keys += timed_keys(plan_route([via, end], self.layout.obstacles), keys[-1].t, speed)[1:]
        return Actor("person", keys, self.looks(), phase0=float(rng.uniform(0, 6.3)))

    def road_car(self, t0: float) -> Actor:
        rng = self.rng
        z = float(rng.choice([21.8, 23.1]) + rng.uniform(-0.15, 0.15))
        x = self.cam.half_width(z) + 3.0
        a, b = np.array([-x, z]), np.array([x, z])
        if z > 22.5:
            a, b = b, a
        keys = timed_keys([a, b], t0, float(rng.uniform(7.0, 12.0)), "drive")
        return Actor("car", keys, {"colour": str(rng.choice(CAR_COLOURS))})

    def normal_actors(self, duration: float, rate: float) -> list[Actor]:
        """Background activity: Poisson arrivals of passers-by and road traffic."""
        actors: list[Actor] = []
        t = -12.0  # people already on their way when the video starts
        while True:
            t += float(self.rng.exponential(1.0 / rate))
            if t > duration:
                break
            actors.append(self.pedestrian(t))
        t = -3.0
        while True:
            t += float(self.rng.exponential(1.0 / 0.09))
            if t > duration:
                break
            actors.append(self.road_car(t))
        return actors
