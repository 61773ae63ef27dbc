"""Fitting a learned frame scorer onto a camera's profile.

1. the normal videos are sampled like every scan (the camera's fps and width) and turned into
   the scorer's small greyscale frames;
2. one video in five (at least one) is held out; with fewer than three videos, the last fifth of
   each is;
3. the scorer trains on the rest (resumable from its checkpoint), learns its components' normal
   spreads on the held-out frames, and their combined raw scores set the calibration that maps
   raw scores to [0, 1] exactly as the cell scores are mapped (0.5: rarer than 1 in 1000 normal
   frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from perception.learned import frame_scorer_class
from perception.learned.framepred import FramePredConfig
from perception.learned.maml import MetaConfig, meta_train
from perception.pipeline import open_camera_video
from perception.profile import CameraProfile
from perception.score.frame_scorer import (
    FrameScorer,
    TrainProgress,
    TrainReport,
    model_shape,
    to_model_frame,
)
from perception.score.scoring import Calibration
from vigil.core.config import CameraConfig
from vigil.core.errors import DataError

#: sampled frames kept per video for training (the first ones; the rest are not read)
MAX_FRAMES_PER_VIDEO = 20000


def model_frames(path: str, camera: CameraConfig, shape: tuple[int, int], colour: bool = False) -> np.ndarray:
    """A video's sampled frames as the scorer's (N, H, W) uint8 frames of ``shape`` (height, width),
    (N, H, W, 3) with ``colour``."""
    frames = []
    with open_camera_video(path, camera) as video:
        for f in video.frames():
            frames.append(to_model_frame(f.image, shape, colour))
            if len(frames) >= MAX_FRAMES_PER_VIDEO:
                break
    if not frames:
        raise DataError(f"{path}: no frames could be read")
    return np.stack(frames)


def frame_shape(path: str, camera: CameraConfig) -> tuple[int, int]:
    """(height, width) of a source's sampled frames."""
    with open_camera_video(path, camera) as video:
        for f in video.frames():
            return f.image.shape[:2]
    raise DataError(f"{path}: no frames could be read")


def split_held_out(videos: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training, held-out) normal footage: every fifth video, or the last fifth of each of few videos."""
    if len(videos) >= 3:
        held_idx = set(range(len(videos) - 1, -1, -5))
        return [v for i, v in enumerate(videos) if i not in held_idx], [v for i, v in enumerate(videos) if i in held_idx]
    train, held = [], []
    for v in videos:
        cut = int(len(v) * 0.8)
        train.append(v[:cut])
        held.append(v[cut:])
    return train, held


def fit_frame_scorer(
    profile: CameraProfile,
    videos: Sequence[str],
    camera: CameraConfig,
    name: str,
    settings: dict[str, Any] | None = None,
    *,
    progress: TrainProgress | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> list[TrainReport]:
    """Train the frame scorer ``name`` on normal ``videos`` and attach it to ``profile``.

    Args:
        profile: the camera's fitted profile (it gains ``frame_scorer`` and its calibration).
        videos: the camera's normal footage.
        camera: the camera's settings (sampling).
        name: ``aedmae`` or ``framepred``.
        settings: the scorer's config values (``size``, ``steps``, ``meta_init``, ...).
        progress: called with (stage, step, total, loss).
        checkpoint: the resumable training state's file.
        resume: continue from ``checkpoint`` if it is there.
    """
    cls = frame_scorer_class(name)
    scorer: FrameScorer = cls.create(frame_shape(videos[0], camera), **(settings or {}))
    frames = [model_frames(v, camera, scorer.shape, scorer.colour) for v in videos]
    train, held = split_held_out(frames)
    need = scorer.context + 2
    if sum(max(0, len(v) - scorer.context) for v in train) < 2 or sum(max(0, len(v) - need) for v in held) < 1:
        raise DataError(f"not enough normal footage to train the {name} scorer: give at least a few seconds per video")
    reports = scorer.train(train, progress=progress, checkpoint=checkpoint, resume=resume)
    scorer.fit_scales(held)
    raw = np.concatenate([scorer.score_video(v)[1] for v in held])
    cal = Calibration.fit(raw)
    profile.frame_scorer = scorer
    profile.frame_calibration = (cal.median, cal.high)
    profile.training = [r.to_dict() for r in reports]
    return reports


def meta_train_framepred(
    folders: Sequence[str],
    camera: CameraConfig,
    out: Path,
    settings: dict[str, Any] | None = None,
    meta: MetaConfig | None = None,
    progress: TrainProgress | None = None,
) -> TrainReport:
    """Meta-train the frame predictor's initialisation on several cameras' normal footage.

    Args:
        folders: one entry per camera: a folder of its normal videos (or one video or image folder).
        camera: sampling settings the cameras are read with.
        out: the initialisation's weights file.
        settings: the predictor's config values (``size``, ``width``, ...).
        meta: meta-training settings.
        progress: called with ("meta", step, total, loss).
    """
    cfg = FramePredConfig.from_dict({k: v for k, v in (settings or {}).items() if k not in ("meta_init", "adapt_frames")})
    tasks = []
    for folder in folders:
        paths = camera_videos(folder)
        shape = model_shape(frame_shape(paths[0], camera), cfg.size)
        tasks.append([model_frames(p, camera, shape) for p in paths])
    return meta_train(tasks, cfg, meta or MetaConfig(), out, progress)


VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


def camera_videos(folder: str) -> list[str]:
    """A camera's normal videos: the video files in a folder, its image sub-folders, or the path itself."""
    path = Path(folder)
    if not path.exists():
        raise DataError(f"{folder}: not found")
    if path.is_file():
        return [str(path)]
    videos = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if videos:
        return videos
    subdirs = sorted(str(p) for p in path.iterdir() if p.is_dir())
    return subdirs or [str(path)]
