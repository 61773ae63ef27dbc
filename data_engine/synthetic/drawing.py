"""Rasterising a frame: the empty scene, people, cars and bags with OpenCV primitives."""

from __future__ import annotations

import math

import cv2
import numpy as np

from data_engine.synthetic.actors import CLOTHES, Actor
from data_engine.synthetic.layout import Camera, Layout, Rect

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
