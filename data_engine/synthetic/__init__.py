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

The modules, each importing only those above it:

- ``layout``: camera, ground rectangles, the scene layout, routes around obstacles
- ``actors``: looks, keypoint trajectories, normal passers-by and road traffic
- ``anomalies``: the scripted anomaly of a test video
- ``drawing``: rasterising the empty scene and each actor
- ``plans``: one video's plan and the ground truth its rendering gathered
- ``captions``: plain-language facts, HIVAU and FG-CLIP annotations
- ``render``: frames (light, noise), the MP4 and its ground truth
- ``dataset``: the spec, every plan of a seed, and the files written (:func:`synthesize`)

This package re-exports their public names, so ``from data_engine.synthetic import X`` works.
"""

from __future__ import annotations

from data_engine.synthetic.actors import (
    CAR_COLOURS,
    CLOTHES,
    SKIN,
    TROUSERS,
    Actor,
    Keypoint,
    ScenePlanner,
    timed_keys,
)
from data_engine.synthetic.anomalies import Scripted, script_anomaly
from data_engine.synthetic.captions import ANALYSIS, fgclip_entry, hivau_entry, video_facts
from data_engine.synthetic.dataset import (
    CAMERA_NAME,
    DATASET_ENTRIES,
    DATASET_FILES,
    GENERATOR_VERSION,
    SynthSpec,
    dataset_files,
    plan_dataset,
    synthesize,
)
from data_engine.synthetic.drawing import SHIFT, draw_bag, draw_car, draw_person, render_background
from data_engine.synthetic.layout import Camera, Layout, Rect, make_layout, plan_route, segment_hits
from data_engine.synthetic.plans import RenderedVideo, VideoPlan, plan_video
from data_engine.synthetic.render import Renderer, render_video

__all__ = [
    "ANALYSIS",
    "CAMERA_NAME",
    "CAR_COLOURS",
    "CLOTHES",
    "DATASET_ENTRIES",
    "DATASET_FILES",
    "GENERATOR_VERSION",
    "SHIFT",
    "SKIN",
    "TROUSERS",
    "Actor",
    "Camera",
    "Keypoint",
    "Layout",
    "Rect",
    "RenderedVideo",
    "Renderer",
    "ScenePlanner",
    "Scripted",
    "SynthSpec",
    "VideoPlan",
    "dataset_files",
    "draw_bag",
    "draw_car",
    "draw_person",
    "fgclip_entry",
    "hivau_entry",
    "make_layout",
    "plan_dataset",
    "plan_route",
    "plan_video",
    "render_background",
    "render_video",
    "script_anomaly",
    "segment_hits",
    "synthesize",
    "timed_keys",
    "video_facts",
]
