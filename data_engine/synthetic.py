"""Synthetic surveillance scenes with exact ground truth.

A fixed camera looks down at a paved plaza: a road and a building face at the far side, a
kiosk with a loitering zone in front of it, a hatched keep-out area around a utility cabinet,
benches and lamp posts. Pedestrians walk plausible paths (around obstacles and the keep-out
area, sometimes pausing), cars use the road, the light drifts and the sensor adds noise.

Test videos add one anomaly each, chosen from :data:`vigil.core.schemas.ANOMALY_TYPES`: running,
falling (and staying down), fighting, loitering in the kiosk zone, intrusion into the keep-out
area, a vehicle driving across the plaza, and an abandoned bag. Ground truth comes from the
simulation itself: event spans, per-frame labels and per-frame boxes of the actors involved.

Geometry is a pinhole camera over a flat ground plane (``x`` metres to the right, ``z`` metres
away from the camera, ``y`` up), so sizes and speeds shrink with distance as in real footage.
Everything is drawn with OpenCV primitives and encoded to H.264 with PyAV; a seed fixes every
random choice, so the same seed gives the same files bit for bit.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from perception.video import Mp4Writer
from vigil.core.errors import DataError
from vigil.core.schemas import ANOMALY_TYPES, frame_labels

log = logging.getLogger(__name__)

CAMERA_NAME = "plaza"
GENERATOR_VERSION = 3
#: the files a dataset writes beside its train/ and test/ videos
DATASET_FILES = ("gt.json", "fgclip.json", "hivau.json", "scene.json", "vigil.yaml")
#: every top-level entry a dataset writes in its folder
DATASET_ENTRIES = ("train", "test", *DATASET_FILES)

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


# --------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Camera:
    """Pinhole camera above a flat ground plane."""

    width: int = 320
    height: int = 240
    focal: float = 300.0
    cam_height: float = 8.0
    horizon: float = -70.0  # image row of the horizon (above the frame: a downward look)

    def scale(self) -> float:
        """Focal length relative to the 320-pixel-wide reference frame."""
        return self.width / 320.0

    @property
    def f(self) -> float:
        return self.focal * self.scale()

    @property
    def v_h(self) -> float:
        return self.horizon * self.scale()

    def project(self, x: float, z: float, y: float = 0.0) -> tuple[float, float]:
        """Image (u, v) of the world point (x, y, z)."""
        return self.width / 2 + self.f * x / z, self.v_h + self.f * (self.cam_height - y) / z

    def ground_z(self, v: float) -> float:
        """Depth of the ground point seen at image row ``v``."""
        return self.f * self.cam_height / (v - self.v_h)

    def half_width(self, z: float) -> float:
        """Half the visible ground width at depth ``z``."""
        return (self.width / 2) / self.f * z

    @property
    def z_near(self) -> float:
        return self.ground_z(self.height)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle on the ground (metres)."""

    x0: float
    x1: float
    z0: float
    z1: float

    def contains(self, x: float, z: float, margin: float = 0.0) -> bool:
        return self.x0 - margin <= x <= self.x1 + margin and self.z0 - margin <= z <= self.z1 + margin

    def inflate(self, m: float) -> Rect:
        return Rect(self.x0 - m, self.x1 + m, self.z0 - m, self.z1 + m)

    def corners(self) -> list[tuple[float, float]]:
        return [(self.x0, self.z0), (self.x1, self.z0), (self.x1, self.z1), (self.x0, self.z1)]

    def sample(self, rng: np.random.Generator, margin: float = 0.0) -> np.ndarray:
        return np.array(
            [rng.uniform(self.x0 + margin, self.x1 - margin), rng.uniform(self.z0 + margin, self.z1 - margin)]
        )


@dataclass(frozen=True)
class Layout:
    """Where things are in one scene (fixed per seed, shared by all its videos)."""

    camera: Camera
    plaza_far: float  # z of the kerb between plaza and road
    road: tuple[float, float]  # z range of the road
    facade_z: float
    keep_out: Rect  # restricted zone
    cabinet: Rect  # utility cabinet inside it
    kiosk: Rect
    loiter: Rect  # loitering zone in front of the kiosk
    benches: tuple[Rect, ...]
    lamps: tuple[tuple[float, float], ...]
    palette: dict[str, tuple[int, int, int]]

    @property
    def obstacles(self) -> list[Rect]:
        return [self.keep_out, self.kiosk, *self.benches]

    def in_plaza(self, x: float, z: float, margin: float = 0.0) -> bool:
        cam = self.camera
        return cam.z_near + margin <= z <= self.plaza_far - margin and abs(x) <= cam.half_width(z) - margin

    def zone_polygons(self) -> dict[str, list[list[float]]]:
        """Zones projected to normalised image coordinates (clipped to the frame)."""
        cam = self.camera

        def poly(rect: Rect) -> list[list[float]]:
            pts = []
            for x, z in rect.corners():
                u, v = cam.project(x, z)
                pts.append([round(min(max(u / cam.width, 0.0), 1.0), 4), round(min(max(v / cam.height, 0.0), 1.0), 4)])
            return pts

        # half a metre inside the kerb: wheels on the road's near edge are not on the plaza
        v_kerb = cam.project(0, self.plaza_far - 0.5)[1] / cam.height
        plaza = [[0.0, round(v_kerb, 4)], [1.0, round(v_kerb, 4)], [1.0, 1.0], [0.0, 1.0]]
        return {"keep-out": poly(self.keep_out), "kiosk": poly(self.loiter), "plaza": plaza}


def make_layout(rng: np.random.Generator, width: int, height: int) -> Layout:
    """Randomise a scene layout: mirror, zone positions, paving colours."""
    cam = Camera(width=width, height=height)
    mirror = -1.0 if rng.random() < 0.5 else 1.0

    def mx(a: float, b: float) -> tuple[float, float]:
        lo, hi = sorted((a * mirror, b * mirror))
        return lo, hi

    kx = rng.uniform(3.4, 4.0)
    kz = rng.uniform(12.0, 13.5)
    kiosk = Rect(*mx(-kx - 1.2, -kx), kz, kz + 0.8)
    loiter = Rect(*mx(-kx - 1.7, -kx + 1.0), kz - 2.2, kz - 0.1)
    rx = rng.uniform(1.2, 2.6)
    rz = rng.uniform(10.0, 13.0)
    keep_out = Rect(*mx(rx, rx + 2.4), rz, rz + 2.0)
    cx0, cx1 = mx(rx + 0.8, rx + 1.6)
    cabinet = Rect(cx0, cx1, rz + 1.2, rz + 1.7)
    bz = rng.uniform(16.0, 17.5)
    benches = (
        Rect(*mx(-1.0, 0.6), bz, bz + 0.5),
        Rect(*mx(4.5, 6.0), 8.6, 9.1),
    )
    lamps = ((-2.5 * mirror, 18.5), (3.0 * mirror, 18.8), (-6.0 * mirror, 17.0))
    base = rng.uniform(0.85, 1.1)
    tone = np.array([rng.uniform(150, 175), rng.uniform(145, 168), rng.uniform(130, 155)]) * base
    palette = {
        "paving": tuple(int(c) for c in tone),
        "grout": tuple(int(c * 0.78) for c in tone),
        "road": (int(70 * base), int(72 * base), int(76 * base)),
        "facade": tuple(int(c) for c in rng.uniform([120, 95, 80], [175, 150, 130])),
        "kiosk": tuple(int(c) for c in rng.uniform([30, 80, 120], [60, 130, 180])),
    }
    return Layout(
        camera=cam, plaza_far=20.0, road=(20.0, 24.0), facade_z=26.0, keep_out=keep_out, cabinet=cabinet,
        kiosk=kiosk, loiter=loiter, benches=benches, lamps=lamps, palette=palette,
    )


# --------------------------------------------------------------------------- actors
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


# --------------------------------------------------------------------------- planning
def segment_hits(a: np.ndarray, b: np.ndarray, rect: Rect) -> bool:
    """Whether the segment a-b touches the rectangle (Liang-Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    d = b - a
    for p, q in ((-d[0], a[0] - rect.x0), (d[0], rect.x1 - a[0]), (-d[1], a[1] - rect.z0), (d[1], rect.z1 - a[1])):
        if abs(p) < 1e-12:
            if q < 0:
                return False
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return False
    return True


def plan_route(points: list[np.ndarray], obstacles: list[Rect], margin: float = 0.45) -> list[np.ndarray]:
    """Insert detours around corners so that straight legs between ``points`` avoid the obstacles.

    Obstacles are inflated by ``margin``; one that contains a leg's own start or end (a person
    heading into a zone on purpose) is not avoided on that leg.
    """
    rects = [r.inflate(margin) for r in obstacles]
    route = [np.asarray(points[0], float)]
    for target in points[1:]:
        route += _detour(route[-1], np.asarray(target, float), rects, 0)[1:]
    return route


def _detour(a: np.ndarray, b: np.ndarray, rects: list[Rect], depth: int) -> list[np.ndarray]:
    active = [r for r in rects if not r.contains(float(a[0]), float(a[1])) and not r.contains(float(b[0]), float(b[1]))]
    blocking = [r for r in active if segment_hits(a, b, r)]
    if not blocking or depth >= 8:
        return [a, b]
    rect = min(blocking, key=lambda r: np.linalg.norm(np.array([(r.x0 + r.x1) / 2, (r.z0 + r.z1) / 2]) - a))
    corners = [np.array(c) for c in rect.inflate(0.05).corners()]
    corners.sort(key=lambda c: np.linalg.norm(c - a) + np.linalg.norm(b - c))
    for c in corners:
        if np.linalg.norm(c - a) < 1e-6:
            continue
        if not any(segment_hits(a, c, r) for r in active):
            return [a, *_detour(c, b, rects, depth + 1)]
    return [a, b]


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


# --------------------------------------------------------------------------- anomalies
@dataclass
class Scripted:
    """An anomaly: the actors it adds, its type and its nominal span (before visibility)."""

    kind: str
    actors: list[Actor]
    key_actors: list[int]  # indices into actors whose boxes the ground truth reports
    span: tuple[float, float]
    facts: dict[str, Any] = field(default_factory=dict)


def script_anomaly(kind: str, planner: ScenePlanner, duration: float) -> Scripted:
    """Plan one anomaly of ``kind`` in a video of ``duration`` seconds."""
    rng, lay, cam = planner.rng, planner.layout, planner.cam
    if kind == "running":
        ta = float(rng.uniform(0.3, 0.6) * duration)
        start = planner.edge_point(str(rng.choice(["left", "right"])))
        end = planner.edge_point("right" if start[0] < 0 else "left")
        mid = planner.plaza_point()
        route = plan_route([start, mid, end], lay.obstacles)
        walk = float(rng.uniform(1.2, 1.5))
        # walk in, then break into a run at ta
        keys = timed_keys(route, 0.0, walk)
        switch_d = min(float(rng.uniform(2.5, 4.0)), 0.3 * _route_len(route))
        p_switch, i_switch = _point_at(route, switch_d)
        walk_route = route[: i_switch + 1] + [p_switch]
        run_route = [p_switch] + route[i_switch + 1 :]
        t_walk = switch_d / walk
        keys = timed_keys(walk_route, ta - t_walk, walk)
        keys[-1].gait = "run"
        keys += timed_keys(run_route, ta, float(rng.uniform(4.0, 5.5)), "run")[1:]
        actor = Actor("person", keys, planner.looks(bag=False), role="runner")
        return Scripted(kind, [actor], [0], (ta, keys[-1].t), {"from": _side(start), "to": _side(end)})

    if kind == "falling":
        ta = float(rng.uniform(max(6.0, duration - 28.0), duration - 12.0))
        spot = planner.plaza_point(margin=2.0, clearance=2.2)
        start = planner.edge_point()
        route = plan_route([start, spot], lay.obstacles)
        keys = timed_keys(route, 0.0, float(rng.uniform(1.1, 1.5)))
        shift = ta - keys[-1].t
        for k in keys:
            k.t += shift
        keys[-1].gait = "fall"
        keys.append(Keypoint(ta + 0.8, keys[-1].x, keys[-1].z, "lie"))
        keys.append(Keypoint(duration + 5.0, keys[-1].x, keys[-1].z, "lie"))
        actor = Actor("person", keys, planner.looks(bag=False), fall_dir=float(rng.choice([-1.0, 1.0])), role="faller")
        return Scripted(kind, [actor], [0], (ta, duration), {"spot": spot.tolist()})

    if kind == "fighting":
        ta = float(rng.uniform(0.3, 0.55) * duration)
        dur = float(rng.uniform(7.0, 11.0))
        meet = planner.plaza_point(margin=2.5)
        actors = []
        for side, sign in (("left", -1.0), ("right", 1.0)):
            start = planner.edge_point(side)
            spot = meet + np.array([0.35 * sign, 0.0])
            route = plan_route([start, spot], lay.obstacles)
            speed = float(rng.uniform(1.2, 1.6))
            keys = timed_keys(route, 0.0, speed)
            shift = ta - keys[-1].t
            for k in keys:
                k.t += shift
            keys[-1].gait = "fight"
            keys.append(Keypoint(ta + dur, keys[-1].x, keys[-1].z, "walk"))
            exit_ = planner.edge_point(side if rng.random() < 0.5 else "bottom")
            keys += timed_keys(plan_route([spot, exit_], lay.obstacles), ta + dur, float(rng.uniform(1.4, 2.2)))[1:]
            actors.append(Actor("person", keys, planner.looks(bag=False), phase0=float(rng.uniform(0, 6)), role="fighter"))
        return Scripted(kind, actors, [0, 1], (ta, ta + dur), {"spot": meet.tolist()})

    if kind == "loitering":
        ta = float(rng.uniform(6.0, max(6.5, duration - 32.0)))
        dwell = float(rng.uniform(18.0, min(28.0, duration - ta - 3.0)))
        start = planner.edge_point()
        entry = lay.loiter.sample(rng, margin=0.3)
        keys = timed_keys(plan_route([start, entry], [lay.keep_out, *lay.benches]), 0.0, float(rng.uniform(1.1, 1.4)))
        shift = ta - keys[-1].t
        for k in keys:
            k.t += shift
        t = ta
        here = entry
        while t < ta + dwell:
            keys[-1].gait = "stand"
            t += float(rng.uniform(1.5, 4.5))
            keys.append(Keypoint(min(t, ta + dwell), float(here[0]), float(here[1]), "walk"))
            if t >= ta + dwell:
                break
            nxt = lay.loiter.sample(rng, margin=0.3)
            step = float(np.linalg.norm(nxt - here)) / float(rng.uniform(0.4, 0.7))
            t += step
            keys.append(Keypoint(min(t, ta + dwell), float(nxt[0]), float(nxt[1]), "walk"))
            here = nxt
        keys[-1].gait = "walk"
        exit_ = planner.edge_point()
        keys += timed_keys(plan_route([here, exit_], [lay.keep_out, *lay.benches]), keys[-1].t, float(rng.uniform(1.1, 1.4)))[1:]
        actor = Actor("person", keys, planner.looks(bag=False), role="loiterer")
        return Scripted(kind, [actor], [0], (ta, ta + dwell), {"zone": "kiosk"})

    if kind == "intrusion":
        ta = float(rng.uniform(0.3, 0.55) * duration)
        start = planner.edge_point()
        inside = lay.keep_out.sample(rng, margin=0.4)
        while lay.cabinet.contains(float(inside[0]), float(inside[1]), 0.3):
            inside = lay.keep_out.sample(rng, margin=0.4)
        edge = _rect_entry(lay.keep_out, start, inside)
        obstacles = [lay.kiosk, *lay.benches]
        speed = float(rng.uniform(1.1, 1.4))
        keys = timed_keys(plan_route([start, edge], obstacles) + [inside], 0.0, speed)
        t_edge = keys[-2].t
        shift = ta - t_edge
        for k in keys:
            k.t += shift
        stay = float(rng.uniform(3.0, 6.0))
        keys[-1].gait = "stand"
        keys.append(Keypoint(keys[-1].t + stay, keys[-1].x, keys[-1].z, "walk"))
        exit_ = planner.edge_point()
        out = _rect_entry(lay.keep_out, exit_, inside)
        t_out = keys[-1].t + float(np.linalg.norm(out - inside)) / speed
        keys += timed_keys([inside, out] + plan_route([out, exit_], obstacles)[1:], keys[-1].t, speed)[1:]
        actor = Actor("person", keys, planner.looks(bag=False), role="intruder")
        return Scripted(kind, [actor], [0], (ta, t_out), {"zone": "keep-out"})

    if kind == "vehicle":
        ta = float(rng.uniform(0.3, 0.6) * duration)
        side = str(rng.choice(["left", "right"]))
        z0 = float(rng.uniform(cam.z_near + 2.5, lay.plaza_far - 4.0))
        x0 = cam.half_width(z0) + 3.0
        a = np.array([-x0 if side == "left" else x0, z0])
        mid = planner.plaza_point(margin=2.0)
        z1 = float(rng.uniform(cam.z_near + 2.5, lay.plaza_far - 4.0))
        x1 = cam.half_width(z1) + 3.0
        b = np.array([x1 if side == "left" else -x1, z1])
        route = plan_route([a, mid, b], [lay.keep_out.inflate(0.8), lay.kiosk.inflate(0.8), *lay.benches], margin=1.2)
        speed = float(rng.uniform(2.5, 4.5))
        keys = timed_keys(route, ta - 3.0 / speed, speed, "drive")
        actor = Actor("car", keys, {"colour": str(rng.choice(CAR_COLOURS))}, role="vehicle")
        return Scripted(kind, [actor], [0], (ta - 3.0 / speed, keys[-1].t), {"from": side})

    if kind == "abandoned_object":
        ta = float(rng.uniform(max(6.0, duration - 30.0), duration - 14.0))
        start = planner.edge_point()
        spot = planner.plaza_point(margin=2.0, clearance=1.5)
        speed = float(rng.uniform(1.1, 1.4))
        keys = timed_keys(plan_route([start, spot], planner.layout.obstacles), 0.0, speed)
        shift = ta - 1.5 - keys[-1].t
        for k in keys:
            k.t += shift
        keys[-1].gait = "stand"
        keys.append(Keypoint(ta + 0.8, keys[-1].x, keys[-1].z, "walk"))
        exit_ = planner.edge_point()
        keys += timed_keys(plan_route([spot, exit_], planner.layout.obstacles), ta + 0.8, speed * 1.1)[1:]
        looks = planner.looks(bag=True)
        owner = Actor("person", keys, looks, bag_drop_t=ta, role="owner")
        side = 1.0 if looks.get("hand", 1) > 0 else -1.0
        bag = Actor(
            "bag",
            [Keypoint(ta, float(spot[0]) + 0.3 * side, float(spot[1]) - 0.05, "stand"),
             Keypoint(duration + 5.0, float(spot[0]) + 0.3 * side, float(spot[1]) - 0.05, "stand")],
            {"colour": looks["bag_colour"]},
            role="bag",
        )
        return Scripted(kind, [owner, bag], [1], (ta, duration), {"spot": spot.tolist()})

    raise ValueError(f"unknown anomaly type {kind!r}; known: {', '.join(ANOMALY_TYPES)}")


def _route_len(route: list[np.ndarray]) -> float:
    return float(sum(np.linalg.norm(b - a) for a, b in zip(route, route[1:])))


def _point_at(route: list[np.ndarray], d: float) -> tuple[np.ndarray, int]:
    for i, (a, b) in enumerate(zip(route, route[1:])):
        seg = float(np.linalg.norm(b - a))
        if d <= seg:
            return a + (b - a) * (d / max(seg, 1e-9)), i
        d -= seg
    return route[-1], len(route) - 2


def _rect_entry(rect: Rect, outside: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The point where the straight line from ``outside`` to ``inside`` crosses into ``rect``."""
    for s in np.linspace(0.0, 1.0, 200):
        p = outside + (inside - outside) * s
        if rect.contains(float(p[0]), float(p[1])):
            return p
    return inside


def _side(p: np.ndarray) -> str:
    return "left" if p[0] < 0 else "right"


# --------------------------------------------------------------------------- drawing
def _colour(name_or_rgb: Any) -> tuple[int, int, int]:
    return CLOTHES[name_or_rgb] if isinstance(name_or_rgb, str) else tuple(int(c) for c in name_or_rgb)


SHIFT = 2  # sub-pixel drawing: coordinates times 4
_S = 1 << SHIFT


def _pt(u: float, v: float) -> tuple[int, int]:
    return int(round(u * _S)), int(round(v * _S))


def render_background(layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """The empty scene (RGB uint8): facade, pavement, road, paving, zones and props."""
    cam = layout.camera
    w, h = cam.width, cam.height
    img = np.zeros((h, w, 3), np.uint8)
    pal = layout.palette
    v_facade = int(math.ceil(cam.project(0, layout.facade_z)[1]))
    v_road_far = cam.project(0, layout.road[1])[1]
    v_kerb = cam.project(0, layout.plaza_far)[1]
    img[:, :] = pal["paving"]
    # far pavement and facade
    img[: int(v_road_far)] = tuple(int(c * 0.9) for c in pal["paving"])
    img[: max(v_facade, 1)] = pal["facade"]
    fx = cam.f / layout.facade_z
    for k in range(-14, 15):
        x = k * 2.2
        u0, _ = cam.project(x, layout.facade_z)
        top = cam.project(x, layout.facade_z, 5.0)[1]
        bot = cam.project(x, layout.facade_z, 2.6)[1]
        cv2.rectangle(img, _pt(u0, top), _pt(u0 + 1.2 * fx, bot), (60, 70, 85), -1, cv2.LINE_AA, SHIFT)
        door_top = cam.project(x, layout.facade_z, 2.1)[1]
        if k % 4 == 1:
            cv2.rectangle(img, _pt(u0, door_top), _pt(u0 + 1.0 * fx, v_facade), (45, 40, 40), -1, cv2.LINE_AA, SHIFT)
    # road with lane dashes and kerb
    img[int(v_road_far) : int(math.ceil(v_kerb))] = pal["road"]
    z_lane = 0.5 * (layout.road[0] + layout.road[1])
    for k in range(-20, 21):
        a = cam.project(k * 3.0, z_lane)
        b = cam.project(k * 3.0 + 1.5, z_lane)
        cv2.line(img, _pt(*a), _pt(*b), (215, 215, 200), 1, cv2.LINE_AA, SHIFT)
    cv2.line(img, _pt(0, v_kerb), _pt(w, v_kerb), (185, 185, 180), max(1, int(round(2 * cam.scale()))), cv2.LINE_AA, SHIFT)
    # paving: a 1 m grid in perspective with per-slab tone variation
    tone = rng.uniform(0.93, 1.07, size=(64, 64))
    z_lines = np.arange(math.floor(cam.z_near) - 1, layout.plaza_far + 1.0, 1.0)
    for zi, z0 in enumerate(z_lines[:-1]):
        z1 = z0 + 1.0
        if z1 <= cam.z_near - 1 or z0 >= layout.plaza_far:
            continue
        z0c, z1c = max(z0, cam.z_near - 1.0), min(z1, layout.plaza_far)
        hw = cam.half_width(z1c) + 1
        for xi, x0 in enumerate(np.arange(-math.ceil(hw), math.ceil(hw), 1.0)):
            quad = [cam.project(x0, z0c), cam.project(x0 + 1, z0c), cam.project(x0 + 1, z1c), cam.project(x0, z1c)]
            colour = tuple(int(min(255, c * tone[zi % 64, xi % 64])) for c in pal["paving"])
            cv2.fillConvexPoly(img, np.array([_pt(*p) for p in quad], np.int32), colour, cv2.LINE_AA, SHIFT)
    for z in z_lines:
        if cam.z_near - 1 <= z <= layout.plaza_far:
            hw = cam.half_width(z) + 1
            cv2.line(img, _pt(*cam.project(-hw, z)), _pt(*cam.project(hw, z)), pal["grout"], 1, cv2.LINE_AA, SHIFT)
    for x in np.arange(-30.0, 31.0, 1.0):
        a = cam.project(x, max(cam.z_near - 1.0, 1.0))
        b = cam.project(x, layout.plaza_far)
        cv2.line(img, _pt(*a), _pt(*b), pal["grout"], 1, cv2.LINE_AA, SHIFT)
    # keep-out area: yellow and black hatching with a border
    ko = layout.keep_out
    quad = np.array([_pt(*cam.project(x, z)) for x, z in ko.corners()], np.int32)
    cv2.fillConvexPoly(img, quad, (205, 170, 30), cv2.LINE_AA, SHIFT)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, quad, 255, cv2.LINE_AA, SHIFT)
    stripes = img.copy()
    for k in np.arange(ko.x0 - 3.0, ko.x1 + 3.0, 0.5):
        a = cam.project(k, ko.z0)
        b = cam.project(k + 2.0, ko.z1)
        cv2.line(stripes, _pt(*a), _pt(*b), (35, 35, 35), max(1, int(round(2 * cam.scale()))), cv2.LINE_AA, SHIFT)
    img[mask > 0] = stripes[mask > 0]
    cv2.polylines(img, [quad], True, (40, 40, 40), 1, cv2.LINE_AA, SHIFT)
    # loitering zone: a subtle painted outline in front of the kiosk
    lq = np.array([_pt(*cam.project(x, z)) for x, z in layout.loiter.corners()], np.int32)
    cv2.polylines(img, [lq], True, (235, 235, 230), 1, cv2.LINE_AA, SHIFT)
    # boxes: cabinet, kiosk and benches (far ones first)
    for rect, height, colour in sorted(
        [(layout.cabinet, 1.3, (90, 100, 95)), (layout.kiosk, 2.2, pal["kiosk"])]
        + [(b, 0.45, (95, 70, 50)) for b in layout.benches],
        key=lambda item: -item[0].z0,
    ):
        _draw_box(img, cam, rect, height, colour)
    # kiosk screen
    kx = 0.5 * (layout.kiosk.x0 + layout.kiosk.x1)
    s0 = cam.project(kx - 0.3, layout.kiosk.z0, 1.7)
    s1 = cam.project(kx + 0.3, layout.kiosk.z0, 1.2)
    cv2.rectangle(img, _pt(*s0), _pt(*s1), (200, 230, 240), -1, cv2.LINE_AA, SHIFT)
    # lamp posts
    for x, z in layout.lamps:
        base = cam.project(x, z)
        top = cam.project(x, z, 4.5)
        cv2.line(img, _pt(*base), _pt(*top), (50, 50, 55), max(1, int(round(1.5 * cam.scale()))), cv2.LINE_AA, SHIFT)
        cv2.circle(img, _pt(*top), int(round(2.5 * cam.scale() * _S)), (240, 235, 200), -1, cv2.LINE_AA, SHIFT)
    return img


def _draw_box(img: np.ndarray, cam: Camera, rect: Rect, height: float, colour: tuple[int, int, int]) -> tuple[float, float, float, float]:
    """A cuboid standing on ``rect``: front face, top face and the visible side."""
    front = [cam.project(rect.x0, rect.z0), cam.project(rect.x1, rect.z0), cam.project(rect.x1, rect.z0, height), cam.project(rect.x0, rect.z0, height)]
    top = [cam.project(rect.x0, rect.z0, height), cam.project(rect.x1, rect.z0, height), cam.project(rect.x1, rect.z1, height), cam.project(rect.x0, rect.z1, height)]
    darker = tuple(int(c * 0.75) for c in colour)
    lighter = tuple(int(min(255, c * 1.2)) for c in colour)
    # the side facing the image centre is visible
    xs = rect.x0 if (rect.x0 + rect.x1) / 2 > 0 else rect.x1
    side = [cam.project(xs, rect.z0), cam.project(xs, rect.z1), cam.project(xs, rect.z1, height), cam.project(xs, rect.z0, height)]
    for poly, col in ((side, darker), (top, lighter), (front, colour)):
        cv2.fillConvexPoly(img, np.array([_pt(*p) for p in poly], np.int32), col, cv2.LINE_AA, SHIFT)
    pts = np.array(front + top + side)
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def draw_person(img: np.ndarray, cam: Camera, actor: Actor, t: float) -> tuple[float, float, float, float]:
    """Draw a person at time ``t``; returns the pixel box (x1, y1, x2, y2) of what was drawn."""
    looks = actor.looks
    x, z = actor.position(t)
    u, v = cam.project(x, z)
    px = cam.f / z  # pixels per metre at this depth
    H = looks["height"]
    gait = actor.gait(t)
    hx, _hz = actor.heading(t)
    facing = 1.0 if hx >= 0 else -1.0
    lateral = 0.35 + 0.65 * abs(hx)  # leg swing is foreshortened when walking toward the camera
    dist = actor.distance(t)
    phase = actor.phase0 + 2 * math.pi * dist / (0.75 if gait != "run" else 1.6)
    amp = {"walk": 0.45, "run": 0.8, "stand": 0.0, "fight": 0.25, "fall": 0.1, "lie": 0.0}.get(gait, 0.4)
    swing = amp * math.sin(phase) * lateral
    lean = 0.0
    dx_fight = 0.0
    arm_a = -swing * 0.9
    arm_b = swing * 0.9
    if gait == "run":
        lean = 0.25 * facing
    if gait == "stand":
        sway = 0.02 * math.sin(0.9 * t + actor.phase0)
        dx_fight = sway
    if gait == "fight":
        w = t * 2 * math.pi
        dx_fight = 0.18 * math.sin(1.7 * w + actor.phase0) + 0.08 * math.sin(3.3 * w)
        lean = 0.3 * math.sin(1.1 * w + actor.phase0) * facing
        arm_a = 1.6 * facing * (0.5 + 0.5 * math.sin(4.1 * w + actor.phase0))
        arm_b = 1.3 * facing * (0.5 + 0.5 * math.sin(3.3 * w + 1.7 + actor.phase0))
        swing = 0.5 * math.sin(2.9 * w + actor.phase0)
    tilt = 0.0
    if gait in ("fall", "lie"):
        k = actor.segment(t)
        t0 = actor.keys[k].t
        frac = 1.0 if gait == "lie" else min(1.0, max(0.0, (t - t0) / 0.8)) ** 2
        tilt = frac * (math.pi / 2 - 0.05) * actor.fall_dir
    # body in metres, origin at the feet, y up
    hip = np.array([0.0, 0.52 * H])
    shoulder = np.array([0.0, 0.80 * H])
    head_c = np.array([0.0, 0.91 * H])
    leg = 0.50 * H
    arm = 0.34 * H
    feet = [hip + leg * np.array([math.sin(s), -math.cos(s)]) for s in (swing, -swing)]
    feet = [np.array([f[0], max(f[1], 0.0)]) for f in feet]
    shoulder = shoulder + np.array([lean * 0.25 * H * 0.4, 0.0])
    head_c = head_c + np.array([lean * 0.3 * H * 0.4, 0.0])
    hands = [shoulder + arm * np.array([math.sin(a), -math.cos(a)]) for a in (arm_a, arm_b)]
    pts = {
        "hip": hip, "shoulder": shoulder, "head": head_c,
        "foot_a": feet[0], "foot_b": feet[1], "hand_a": hands[0], "hand_b": hands[1],
    }
    names = list(pts)
    arr = np.array([pts[n] for n in names])
    arr[:, 0] += dx_fight
    if tilt:
        arr = _rotate(arr, tilt)
    # to pixels: y up -> v down
    pix = np.stack([u + arr[:, 0] * px, v - arr[:, 1] * px], axis=1)
    if tilt:
        # a fallen body rests on the ground: lift it so nothing sinks below the feet line
        pix[:, 1] -= max(0.0, pix[:, 1].max() - v)
    P = dict(zip(names, pix))
    top_c = CLOTHES[looks["top"]]
    bottom_c = CLOTHES[looks["bottom"]]
    limb = max(1, int(round(0.11 * px)))
    arm_w = max(1, int(round(0.08 * px)))
    if not tilt:
        _shadow(img, u, v, 0.35 * px, 0.1 * px)
    for foot in ("foot_a", "foot_b"):
        cv2.line(img, _pt(*P["hip"]), _pt(*P[foot]), bottom_c, limb, cv2.LINE_AA, SHIFT)
    torso_w = 0.36 * px
    d = P["shoulder"] - P["hip"]
    n = np.array([-d[1], d[0]]) / max(float(np.linalg.norm(d)), 1e-6)
    torso = np.array([P["hip"] + n * torso_w * 0.4, P["hip"] - n * torso_w * 0.4,
                      P["shoulder"] - n * torso_w * 0.5, P["shoulder"] + n * torso_w * 0.5])
    cv2.fillConvexPoly(img, np.array([_pt(*p) for p in torso], np.int32), top_c, cv2.LINE_AA, SHIFT)
    for hand in ("hand_a", "hand_b"):
        cv2.line(img, _pt(*P["shoulder"]), _pt(*P[hand]), top_c, arm_w, cv2.LINE_AA, SHIFT)
    r = 0.075 * H * px
    cv2.circle(img, _pt(*P["head"]), max(1, int(round(r * _S))), looks["skin"], -1, cv2.LINE_AA, SHIFT)
    hair_c = P["head"] + (_rotate(np.array([[0.0, 0.03 * H]]), tilt)[0] * np.array([1, -1]) * px)
    cv2.circle(img, _pt(*hair_c), max(1, int(round(r * 0.8 * _S))), looks["hair"], -1, cv2.LINE_AA, SHIFT)
    carrying = looks.get("bag") and (actor.bag_drop_t is None or t < actor.bag_drop_t)
    if carrying:
        hand = P["hand_a"]
        bw, bh = 0.32 * px, 0.28 * px
        cv2.rectangle(img, _pt(hand[0] - bw / 2, hand[1] - bh * 0.2), _pt(hand[0] + bw / 2, hand[1] + bh * 0.8),
                      CLOTHES[looks["bag_colour"]], -1, cv2.LINE_AA, SHIFT)
        pix = np.vstack([pix, [hand[0] - bw / 2, hand[1] - bh * 0.2], [hand[0] + bw / 2, hand[1] + bh * 0.8]])
    pad = max(limb, arm_w) / 2
    x1 = float(min(pix[:, 0].min() - pad, P["head"][0] - r))
    x2 = float(max(pix[:, 0].max() + pad, P["head"][0] + r))
    y1 = float(min(pix[:, 1].min() - pad, P["head"][1] - r))
    y2 = float(max(pix[:, 1].max() + pad, P["head"][1] + r))
    return x1, y1, x2, y2


def _shadow(img: np.ndarray, u: float, v: float, rx: float, ry: float) -> None:
    h, w = img.shape[:2]
    x0, x1 = int(max(0, u - rx - 1)), int(min(w, u + rx + 2))
    y0, y1 = int(max(0, v - ry - 1)), int(min(h, v + ry + 2))
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.ellipse(mask, _pt(u - x0, v - y0), (max(1, int(rx * _S)), max(1, int(ry * _S))), 0, 0, 360, 255, -1, cv2.LINE_AA, SHIFT)
    roi = img[y0:y1, x0:x1]
    m = mask[..., None].astype(np.float32) / 255.0
    roi[:] = (roi * (1.0 - 0.35 * m)).astype(np.uint8)


def draw_car(img: np.ndarray, cam: Camera, actor: Actor, t: float) -> tuple[float, float, float, float]:
    """Draw a car (a cuboid body with a glass band and wheels); returns its pixel box."""
    x, z = actor.position(t)
    hx, hz = actor.heading(t)
    L, W, Hb, Hr = 4.2, 1.8, 0.95, 1.45
    fwd = np.array([hx, hz])
    side = np.array([-hz, hx])
    corners = [np.array([x, z]) + fwd * a * L / 2 + side * b * W / 2 for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    colour = CLOTHES[actor.looks["colour"]]
    dark = tuple(int(c * 0.6) for c in colour)
    glass = (55, 70, 85)

    def proj(p: np.ndarray, y: float) -> tuple[float, float]:
        return cam.project(float(p[0]), max(float(p[1]), 0.5), y)

    low = [proj(c, 0.35) for c in corners]
    mid = [proj(c, Hb) for c in corners]
    shrink = [np.array([x, z]) + (c - np.array([x, z])) * np.array([0.62, 0.62]) for c in corners]
    roof = [proj(c, Hr) for c in shrink]
    pts = np.array(low + mid + roof)
    # shadow then body hull, glass band hull, roof
    cx = float(np.mean([p[0] for p in low]))
    cy = float(max(p[1] for p in low))
    _shadow(img, cx, cy, 0.5 * (pts[:, 0].max() - pts[:, 0].min()), 0.2 * (pts[:, 1].max() - pts[:, 1].min()))
    px = cam.f / z
    for c in corners:  # wheels first: the body hides their upper half
        wheel = np.array([x, z]) + (c - np.array([x, z])) * 0.75
        wu, wv = proj(wheel, 0.3)
        cv2.circle(img, _pt(wu, wv), max(1, int(round(0.32 * px * _S))), (20, 20, 20), -1, cv2.LINE_AA, SHIFT)
    body = cv2.convexHull(np.array([_pt(*p) for p in low + mid], np.int32))
    cv2.fillConvexPoly(img, body, colour, cv2.LINE_AA, SHIFT)
    cabin = cv2.convexHull(np.array([_pt(*p) for p in mid + roof], np.int32))
    cv2.fillConvexPoly(img, cabin, glass, cv2.LINE_AA, SHIFT)
    cv2.fillConvexPoly(img, cv2.convexHull(np.array([_pt(*p) for p in roof], np.int32)), colour, cv2.LINE_AA, SHIFT)
    cv2.polylines(img, [body], True, dark, 1, cv2.LINE_AA, SHIFT)
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max() + 0.3 * px)


def draw_bag(img: np.ndarray, cam: Camera, actor: Actor, t: float) -> tuple[float, float, float, float]:
    """Draw a bag standing on the ground; returns its pixel box."""
    x, z = actor.position(t)
    rect = Rect(x - 0.22, x + 0.22, z, z + 0.3)
    _shadow(img, *cam.project(x, z + 0.15), 0.35 * cam.f / z, 0.1 * cam.f / z)
    colour = CLOTHES[actor.looks["colour"]]
    box = _draw_box(img, cam, rect, 0.38, colour)
    return box


# --------------------------------------------------------------------------- videos
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
    facts = _facts(plan, renderer.layout, events)
    return RenderedVideo(plan.name, plan.split, rel, plan.fps, n_frames, events, labels, box_rows, facts)


# --------------------------------------------------------------------------- captions
def _where(layout: Layout, x: float, z: float) -> str:
    if layout.keep_out.contains(x, z):
        return "inside the hatched keep-out area"
    if layout.loiter.contains(x, z, 0.3):
        return "in front of the kiosk"
    cam = layout.camera
    u, v = cam.project(x, z)
    horiz = "left" if u < cam.width / 3 else "right" if u > 2 * cam.width / 3 else "middle"
    depth = "near the camera" if z < 11 else "on the far side of the plaza" if z > 16 else "in the middle of the plaza"
    return f"{depth}, {'toward the ' + horiz if horiz != 'middle' else 'at the centre'}"


def _person(looks: dict[str, Any]) -> str:
    return f"a person in a {looks['top']} top and {looks['bottom']} trousers"


def _facts(plan: VideoPlan, layout: Layout, events: list[tuple[float, float, str]]) -> dict[str, Any]:
    """Plain-language facts of the video, the raw material for captions."""
    passers = [a for a in plan.actors if a.kind == "person" and a.t_end > 0 and a.t_start < plan.duration]
    cars = [a for a in plan.actors if a.kind == "car" and a.t_end > 0 and a.t_start < plan.duration]
    facts: dict[str, Any] = {
        "n_passers": len(passers),
        "n_cars": len(cars),
        "passers": [_person(a.looks) for a in passers[:6]],
        "car_colours": [a.looks["colour"] for a in cars[:4]],
    }
    if plan.anomaly and events:
        an = plan.anomaly
        start, end, kind = events[0]
        who = an.actors[an.key_actors[0]]
        facts.update(kind=kind, start=start, end=end)
        if who.kind == "person":
            facts["actor"] = _person(who.looks)
            x, z = who.position(start)
            facts["where"] = _where(layout, x, z)
        elif who.kind == "car":
            facts["actor"] = f"a {who.looks['colour']} car"
            x, z = who.position(0.5 * (start + end))
            facts["where"] = _where(layout, x, z)
        else:
            owner = an.actors[0]
            facts["actor"] = f"a {who.looks['colour']} bag"
            facts["owner"] = _person(owner.looks)
            x, z = who.position(start)
            facts["where"] = _where(layout, x, z)
        if kind == "fighting":
            facts["actor"] = f"{_person(an.actors[0].looks)} and {_person(an.actors[1].looks)}"
        facts.update(an.facts)
    return facts


ANALYSIS = {
    "running": "Sprinting through a plaza where people normally walk suggests flight, pursuit or an emergency, so the sudden high speed departs from the usual pedestrian flow.",
    "falling": "A person who collapses and stays down may be injured or unwell and needs help; people normally keep walking through the plaza.",
    "fighting": "Two people striking and grappling with each other is violent behaviour that threatens their safety and that of passers-by.",
    "loitering": "Lingering for a long time at the kiosk without a clear purpose is unusual here, where people normally pass through, and can precede theft or tampering.",
    "intrusion": "The hatched area around the utility cabinet is off limits, so entering it is a breach of a restricted zone.",
    "vehicle": "The plaza is a pedestrian area; a car driving across it endangers the people walking there.",
    "abandoned_object": "A bag left behind in a public place by someone who walks away is a potential security threat until it is checked.",
}


def _clip_captions(facts: dict[str, Any]) -> list[tuple[float, float, str]]:
    """Two or three phases of the anomaly, each with a caption."""
    s, e, kind = facts["start"], facts["end"], facts["kind"]
    actor, where = facts["actor"], facts["where"]
    mid = round(s + (e - s) / 2, 3)
    if kind == "running":
        return [(s, mid, f"{actor.capitalize()} who was walking breaks into a run {where}."),
                (mid, e, f"The person sprints across the plaza toward the {facts.get('to', 'far')} edge and leaves the view.")]
    if kind == "falling":
        f = round(min(e, s + 1.5), 3)
        return [(s, f, f"{actor.capitalize()} suddenly falls to the ground {where}."),
                (f, e, "The person lies motionless on the paving and does not get up.")]
    if kind == "fighting":
        return [(s, mid, f"{actor.capitalize()} meet {where} and start hitting each other."),
                (mid, e, "The two people keep grappling and throwing punches, moving erratically.")]
    if kind == "loitering":
        return [(s, mid, f"{actor.capitalize()} stops {where} and stands around."),
                (mid, e, "The person keeps pacing slowly back and forth at the kiosk for a long time.")]
    if kind == "intrusion":
        return [(s, mid, f"{actor.capitalize()} steps over the marking into the hatched keep-out area."),
                (mid, e, "The person stands by the utility cabinet inside the restricted area, then walks out.")]
    if kind == "vehicle":
        return [(s, mid, f"{actor.capitalize()} drives onto the pedestrian plaza from the {facts.get('from', 'side')}."),
                (mid, e, f"The car crosses the plaza {where} among the pedestrians and drives off.")]
    f = round(min(e, s + 3.0), 3)
    return [(s, f, f"{facts.get('owner', 'A person').capitalize()} puts {actor} down {where} and walks away."),
            (f, e, f"{actor.capitalize()} stays on the ground unattended; nobody comes back for it.")]


def hivau_entry(video: RenderedVideo) -> dict[str, Any]:
    """The video's ground truth in the HIVAU raw annotation format."""
    facts = video.facts
    duration = round(video.n_frames / video.fps, 3)
    passers = facts["passers"]
    people = ", ".join(passers[:3]) if passers else "nobody"
    if not video.events:
        half = round(duration / 2, 3)
        parts = [(0.0, half), (half, duration)]
        captions = [
            f"Pedestrians walk through the plaza, including {people}.",
            f"People keep passing by at a normal pace and {facts['n_cars']} cars drive along the road behind the plaza.",
        ]
        desc_e = [
            f"The video shows ordinary activity: {captions[0][0].lower() + captions[0][1:]}",
            f"The video shows ordinary activity: {captions[1][0].lower() + captions[1][1:]}",
        ]
        judgement = "No anomaly exists in the video."
        video_desc = (
            f"The camera watches a paved plaza with a kiosk and a road behind it. {facts['n_passers']} people walk "
            f"through at a normal pace and {facts['n_cars']} cars pass on the road, with no unusual activity from start to end."
        )
        return {
            "n_frames": video.n_frames, "fps": video.fps, "label": [],
            "events": [[a, b] for a, b in parts],
            "clips": [[[a, b]] for a, b in parts],
            "clips_caption": [[c] for c in captions],
            "events_summary": [f"{judgement} {d}" for d in desc_e],
            "events_summary_split": [{"judgement": judgement, "description": d} for d in desc_e],
            "video_summary": f"{judgement} {video_desc}",
            "video_summary_split": {"judgement": judgement, "description": video_desc},
        }
    start, end, kind = video.events[0]
    name = ANOMALY_TYPES[kind]
    phases = _clip_captions(facts)
    description = f"The anomaly event is {facts['actor']} " + {
        "running": f"suddenly running at high speed across the plaza {facts['where']}",
        "falling": f"falling to the ground {facts['where']} and staying down without moving",
        "fighting": f"fighting {facts['where']}, hitting and pushing each other",
        "loitering": "lingering in front of the kiosk for a long time, pacing slowly without moving on",
        "intrusion": "entering the hatched keep-out area around the utility cabinet",
        "vehicle": f"driving across the pedestrian plaza {facts['where']}",
        "abandoned_object": f"left {facts['where']} by its owner, who walks away",
    }[kind]
    analysis = ANALYSIS[kind]
    judgement_e = f"An anomaly exists, specifically, the anomaly is named {name}."
    judgement_v = f"An anomaly exists, specifically named {name}."
    video_desc = (
        f"{description}. Before it, people walk through the plaza normally; the event lasts from "
        f"{start:.1f} s to {end:.1f} s of the video"
    )
    return {
        "n_frames": video.n_frames, "fps": video.fps, "label": [name],
        "events": [[start, end]],
        "clips": [[[a, b] for a, b, _c in phases]],
        "clips_caption": [[c for _a, _b, c in phases]],
        "events_summary": [f'An anomaly exists, specifically, the anomaly is named "{name}". {description}. The basis for judging this anomaly is that {analysis[0].lower()}{analysis[1:]}'],
        "events_summary_split": [{"judgement": judgement_e, "description": description, "analysis": analysis}],
        "video_summary": f'An anomaly exists, specifically named "{name}". {video_desc}. The basis for judging this anomaly is that {analysis[0].lower()}{analysis[1:]}',
        "video_summary_split": {"judgement": judgement_v, "description": video_desc, "analysis": analysis},
    }


def fgclip_entry(video: RenderedVideo) -> dict[str, Any]:
    """The video's ground truth in the FG-CLIP format (global caption, regions with boxes)."""
    hv = hivau_entry(video)
    duration = round(video.n_frames / video.fps, 3)
    entry: dict[str, Any] = {"video": video.path, "global_caption": hv["video_summary_split"]["description"]}
    if not video.events:
        entry.update(region_captions=[], box_infos=[], timestamps=[[0.0, duration]])
        return entry
    start, end, _kind = video.events[0]
    entry.update(
        region_captions=[hv["events_summary_split"][0]["description"]],
        box_infos=[[{"frame": b["frame"], "bbox": b["bbox"]} for b in video.boxes]],
        timestamps=[[start, end]],
    )
    return entry


# --------------------------------------------------------------------------- dataset
@dataclass(frozen=True)
class SynthSpec:
    """What ``vigil data synth`` renders."""

    seed: int = 0
    n_train: int = 4
    per_type: int = 1
    n_normal_test: int = 3
    duration: float = 45.0
    fps: float = 15.0
    width: int = 320
    height: int = 240
    types: tuple[str, ...] = tuple(ANOMALY_TYPES)

    def __post_init__(self) -> None:
        if self.duration < 40.0:
            raise ValueError(f"duration must be at least 40 s so every anomaly fits, got {self.duration}")
        if self.width % 2 or self.height % 2 or self.width < 160 or self.height < 120:
            raise ValueError(f"size must be even and at least 160x120, got {self.width}x{self.height}")
        unknown = [t for t in self.types if t not in ANOMALY_TYPES]
        if unknown:
            raise ValueError(f"unknown anomaly type(s) {', '.join(unknown)}; known: {', '.join(ANOMALY_TYPES)}")
        if self.fps <= 0 or self.fps > 60:
            raise ValueError(f"fps must be in (0, 60], got {self.fps}")


def plan_dataset(spec: SynthSpec) -> tuple[Layout, list[VideoPlan]]:
    """The layout and every video plan of a dataset, fixed by ``spec.seed``."""
    root = np.random.SeedSequence(spec.seed)
    layout_seq, *video_seqs = root.spawn(1 + spec.n_train + spec.per_type * len(spec.types) + spec.n_normal_test)
    layout = make_layout(np.random.default_rng(layout_seq), spec.width, spec.height)
    plans: list[VideoPlan] = []
    seqs = iter(video_seqs)
    for i in range(spec.n_train):
        plans.append(plan_video(layout, np.random.default_rng(next(seqs)), f"normal_{i:03d}", "train", spec.duration, spec.fps, None))
    k = 0
    for kind in spec.types:
        for _ in range(spec.per_type):
            plans.append(plan_video(layout, np.random.default_rng(next(seqs)), f"test_{k:03d}_{kind}", "test", spec.duration, spec.fps, kind))
            k += 1
    for _ in range(spec.n_normal_test):
        plans.append(plan_video(layout, np.random.default_rng(next(seqs)), f"test_{k:03d}_normal", "test", spec.duration, spec.fps, None))
        k += 1
    return layout, plans


def dataset_files(plans: Sequence[VideoPlan], out_dir: str | Path) -> list[Path]:
    """Every file :func:`synthesize` writes in ``out_dir`` for the videos of ``plans``."""
    out = Path(out_dir)
    return [out / f"{plan.split}/{plan.name}.mp4" for plan in plans] + [out / name for name in DATASET_FILES]


def synthesize(spec: SynthSpec, out_dir: str | Path, progress: Callable[[int], None] | None = None,
               force: bool = False) -> dict[str, Any]:
    """Render a dataset and write its videos and ground-truth files.

    Writes ``train/*.mp4`` (normal activity only), ``test/*.mp4`` (one anomaly each, plus
    normal-only ones), ``gt.json``, ``fgclip.json``, ``hivau.json``, ``scene.json`` and a
    ``vigil.yaml`` with the camera's zones.

    Args:
        force: overwrite those files where they are already there (a user's edited
            ``vigil.yaml``, say); without it they are refused before anything is written.

    Returns:
        A summary: paths written and counts.

    Raises:
        DataError: without ``force``, a file it would write is already there.
    """
    out = Path(out_dir)
    layout, plans = plan_dataset(spec)
    if not force:
        taken = [f for f in dataset_files(plans, out) if f.exists() or f.is_symlink()]
        if taken:
            raise DataError(f"{taken[0]} is already there ({len(taken)} file(s) would be overwritten); "
                            "give --force to overwrite them, or another folder")
    out.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(layout, spec.seed)
    rendered = [render_video(renderer, plan, out, progress) for plan in plans]
    tests = [v for v in rendered if v.split == "test"]
    gt = {
        v.name: {"path": v.path, "fps": v.fps, "n_frames": v.n_frames, "events": [list(e) for e in v.events],
                 "labels": v.labels, "boxes": v.boxes}
        for v in tests
    }
    _write_json(out / "gt.json", gt)
    _write_json(out / "hivau.json", {v.name: hivau_entry(v) for v in tests})
    _write_json(out / "fgclip.json", [fgclip_entry(v) for v in tests])
    zones = layout.zone_polygons()
    camera_cfg = {
        "fps": 8,
        "zones": [
            {"name": "keep-out", "kind": "restricted", "polygon": zones["keep-out"]},
            {"name": "kiosk", "kind": "loitering", "polygon": zones["kiosk"]},
            {"name": "plaza", "kind": "pedestrian", "polygon": zones["plaza"]},
        ],
        # the scenes last 45 s: lingering and unattended bags last seconds here, not the minutes
        # real sites use (detection.loiter_s / abandoned_s defaults)
        "detection": {"loiter_s": 6.0, "abandoned_s": 3.0},
    }
    (out / "vigil.yaml").write_text(
        "# Camera settings for the synthetic plaza; use with --config or copy into your vigil.yaml\n"
        + yaml.safe_dump({"cameras": {CAMERA_NAME: camera_cfg}}, sort_keys=False, default_flow_style=None),
        encoding="utf-8",
    )
    scene = {
        "generator_version": GENERATOR_VERSION,
        "seed": spec.seed,
        "camera": CAMERA_NAME,
        "width": spec.width,
        "height": spec.height,
        "fps": spec.fps,
        "duration_s": spec.duration,
        "zones": camera_cfg["zones"],
        "train": [v.path for v in rendered if v.split == "train"],
        "test": [v.path for v in tests],
    }
    _write_json(out / "scene.json", scene)
    return {
        "out": str(out),
        "train_videos": len(rendered) - len(tests),
        "test_videos": len(tests),
        "anomalous_test_videos": sum(1 for v in tests if v.events),
        "frames": sum(v.n_frames for v in rendered),
        "footage_s": round(sum(v.n_frames / v.fps for v in rendered), 1),
        "files": {name: str(out / name) for name in DATASET_FILES},
    }


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(path)
