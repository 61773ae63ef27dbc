"""A whole dataset: its spec, the plans fixed by the seed, and the files it writes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from data_engine.synthetic.captions import fgclip_entry, hivau_entry
from data_engine.synthetic.layout import Layout, make_layout
from data_engine.synthetic.plans import VideoPlan, plan_video
from data_engine.synthetic.render import Renderer, render_video
from vigil.core.errors import DataError
from vigil.core.files import write_text_atomic
from vigil.core.schemas import ANOMALY_TYPES

CAMERA_NAME = "plaza"
GENERATOR_VERSION = 3
#: the files a dataset writes beside its train/ and test/ videos
DATASET_FILES = ("gt.json", "fgclip.json", "hivau.json", "scene.json", "vigil.yaml")
#: every top-level entry a dataset writes in its folder
DATASET_ENTRIES = ("train", "test", *DATASET_FILES)


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
    # indent 1, ASCII escapes and no final newline: the bytes datasets have always had
    # (write_json_atomic would add a newline and keep non-ASCII characters)
    write_text_atomic(path, json.dumps(data, indent=1))
