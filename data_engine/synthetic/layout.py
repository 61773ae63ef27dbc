"""Scene geometry: the pinhole camera, ground rectangles, the plaza layout and routes around obstacles.

Geometry is a pinhole camera over a flat ground plane (``x`` metres to the right, ``z`` metres
away from the camera, ``y`` up), so sizes and speeds shrink with distance as in real footage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
