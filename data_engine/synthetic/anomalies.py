"""Scripted anomalies: who does what when in a test video, and the span the ground truth reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_engine.synthetic.actors import CAR_COLOURS, Actor, Keypoint, ScenePlanner, timed_keys
from data_engine.synthetic.layout import Rect, plan_route
from vigil.core.schemas import ANOMALY_TYPES


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
