"""Fitting a camera: learn what its normal footage looks like.

1. the encoder learns what it needs (the motion encoder: background, perspective, footfall);
2. every window of the normal videos is embedded (stride ``fit_stride``);
3. every normal video is scored by a model fitted on the other videos (or, with one video,
   its last quarter by a model fitted on the rest); those held-out distances set the per-cell
   and per-level scales and the calibration of the final model, which keeps all windows;
4. the Engram memory learns its codebook and counts the normal n-grams;
5. with labelled videos (``gt.json``), the type head is trained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from perception.encoders import Encoder, get_encoder
from perception.encoders.motion import MotionEncoder
from perception.engram import EngramMemory
from perception.head import NORMAL, TypeHead
from perception.pipeline import embed_windows, open_camera_video, threaded_frames
from perception.profile import CameraProfile
from perception.scoring import NormalityModel
from vigil.config import CameraConfig
from vigil.errors import DataError
from vigil.schemas import load_ground_truth

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

#: fewer normal windows than this cannot be held out and calibrated in any useful way
MIN_FIT_WINDOWS = 8


@dataclass
class FitOptions:
    """How to fit a camera."""

    encoder: str = "motion"
    encoder_options: dict[str, Any] = field(default_factory=dict)
    scorer: str = "knn"
    k: int = 3
    engram: bool = True
    codebook: int = 32
    ngram: int = 2
    fit_stride: int = 4
    background_fps: float = 2.0
    exceedance: bool = False  # one-sided feature tests on top of kNN (encoders with one-sided features)


@dataclass
class _VideoEmbeddings:
    cells: np.ndarray    # (N, R, C, F)
    vectors: np.ndarray  # (N, D)
    spans: np.ndarray    # (N, 2) ts_start, ts_end


def _embed_video(encoder: Encoder, path: str, cam: CameraConfig, stride: int, progress: Progress | None) -> _VideoEmbeddings:
    cells, vectors, spans = [], [], []
    with open_camera_video(path, cam) as video:
        batch = int(getattr(getattr(encoder, "config", None), "batch_size", 1) or 1)
        for window, emb in embed_windows(encoder, threaded_frames(video), size=cam.window, stride=stride, fps=cam.fps, batch=batch):
            cells.append(emb.cells)
            vectors.append(emb.vector)
            spans.append((window.ts_start, window.ts_end))
            if progress:
                progress(path, window.ts_end)
    if not cells:
        raise DataError(f"{path}: no frames could be read")
    return _VideoEmbeddings(np.stack(cells), np.stack(vectors), np.array(spans))


def fit_profile(
    camera_id: str,
    videos: Sequence[str],
    camera: CameraConfig,
    options: FitOptions | None = None,
    *,
    labels: str | Path | None = None,
    progress: Progress | None = None,
) -> CameraProfile:
    """Fit a camera's profile on normal videos (see the module docstring).

    Args:
        camera_id: the camera's name.
        videos: normal footage (files, folders or finite streams).
        camera: the camera's settings (sampling rate, window, stride).
        options: encoder, scorer and memory choices.
        labels: optional ``gt.json``; its videos train the type head.
        progress: called with (video, seconds reached).
    """
    opts = options or FitOptions()
    if not videos:
        raise DataError("fit needs at least one normal video")
    encoder = get_encoder(opts.encoder, fps=camera.fps, **opts.encoder_options)
    stride = max(1, min(camera.stride, opts.fit_stride))

    def sampled(path: str):
        with open_camera_video(path, camera, fps=min(opts.background_fps, camera.fps)) as video:
            for frame in video.frames():
                yield frame.image

    if type(encoder).fit is not Encoder.fit:
        encoder.fit(sampled(v) for v in videos)
    scene_state = None
    if not isinstance(encoder, MotionEncoder):
        # scene facts (tracks, zones) need a background and a perspective whatever the encoder
        scene = MotionEncoder(fps=camera.fps)
        scene.fit(sampled(v) for v in videos)
        scene_state = scene.state()
    embedded = [_embed_video(encoder, v, camera, stride, progress) for v in videos]
    n_windows = sum(len(e.cells) for e in embedded)
    if n_windows < MIN_FIT_WINDOWS:
        need_s = (camera.window + (MIN_FIT_WINDOWS - 1) * stride) / camera.fps
        got_s = sum(float(e.spans[-1, 1] - e.spans[0, 0]) for e in embedded)
        raise DataError(f"not enough normal footage to fit camera {camera_id!r}: {got_s:.1f} s gave {n_windows} "
                        f"window(s); give at least {need_s:.0f} s of normal video (more is better: minutes)")

    all_cells = np.concatenate([e.cells for e in embedded])
    all_vectors = np.concatenate([e.vectors for e in embedded])
    one_sided = opts.exceedance and bool(getattr(encoder, "one_sided", False))
    final = NormalityModel(all_cells, all_vectors, kind=opts.scorer, k=opts.k, exceedance=one_sided)  # type: ignore[arg-type]
    final.calibrate(*_held_out(embedded, final, opts, camera.window, stride))
    engram = None
    if opts.engram:
        engram = EngramMemory.fit([e.vectors for e in embedded], final.vector_scale, k=opts.codebook, n=opts.ngram)

    head = _fit_head(encoder, final, camera, labels, progress) if labels else None
    return CameraProfile(
        camera_id=camera_id,
        encoder_state=encoder.state(),
        encoder_version=encoder.version,
        scorer=final,
        fps=camera.fps,
        window=camera.window,
        stride=camera.stride,
        frame_width=camera.frame_width,
        engram=engram,
        head=head,
        videos=[str(v) for v in videos],
        n_windows=int(len(all_cells)),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        scene_state=scene_state,
    )


def _held_out(
    embedded: list[_VideoEmbeddings], final: NormalityModel, opts: FitOptions, window: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances (and feature exceedances) of normal windows scored by a model that never saw them.

    With several videos, each is scored by a model fitted on the others (they differ in
    light and in who walks by, as new footage will); with one, its last quarter is scored by
    a model fitted on the rest, leaving a window's length between the two.
    """
    scales = {"cell_feature_scale": final.cell_feature_scale, "vector_scale": final.vector_scale}

    def model(cells: list[np.ndarray], vectors: list[np.ndarray]) -> NormalityModel:
        return NormalityModel(np.concatenate(cells), np.concatenate(vectors), kind=opts.scorer, k=opts.k,  # type: ignore[arg-type]
                              scales=scales, exceedance=final.exceedance)

    dists, wins, excs = [], [], []
    if len(embedded) >= 2:
        for i, e in enumerate(embedded):
            others = [o for j, o in enumerate(embedded) if j != i]
            d, w, x = model([o.cells for o in others], [o.vectors for o in others]).held_out_distances(e.cells, e.vectors)
            dists.append(d)
            wins.append(w)
            excs.append(x)
    else:
        e = embedded[0]
        n = len(e.cells)
        cut = int(n * 0.75)
        gap = int(np.ceil(window / stride))
        if n < 12 or n - cut - gap < 2:
            log.warning("normal footage is too short to hold part of it out; calibrating on the training windows")
            return final.held_out_distances(e.cells, e.vectors)
        d, w, x = model([e.cells[:cut]], [e.vectors[:cut]]).held_out_distances(e.cells[cut + gap :], e.vectors[cut + gap :])
        dists.append(d)
        wins.append(w)
        excs.append(x)
    return np.concatenate(dists), np.concatenate(wins), np.concatenate(excs)


def _fit_head(encoder: Encoder, model: NormalityModel, cam: CameraConfig, labels: str | Path, progress: Progress | None) -> TypeHead:
    """Train the type head on the labelled videos listed in ``labels``."""
    gt_path = Path(labels)
    truth = load_ground_truth(gt_path)
    features, names = [], []
    for name, t in truth.items():
        if not t.path:
            raise DataError(f"{gt_path}: video {name!r} has no 'path', so its footage cannot be found")
        path = gt_path.parent / t.path
        if not path.exists():
            raise DataError(f"{gt_path}: footage of {name!r} not found at {path}")
        e = _embed_video(encoder, str(path), cam, cam.stride, progress)
        for cells, vector, (s, end) in zip(e.cells, e.vectors, e.spans):
            span = max(end - s, 1e-6)
            overlap: dict[str, float] = {}
            for a, b, kind in t.events:
                overlap[kind] = overlap.get(kind, 0.0) + max(0.0, min(end, b) - max(s, a)) / span
            best = max(overlap.items(), key=lambda kv: kv[1], default=(NORMAL, 0.0))
            if best[1] >= 0.5:
                label = best[0]
            elif best[1] == 0.0:
                label = NORMAL
            else:
                continue  # half-in windows teach nothing clear
            cell = model.score(cells, vector).cell
            features.append(TypeHead.features(vector, cells, cell))
            names.append(label)
    if len(set(names)) < 2:
        raise DataError(f"{gt_path}: the labelled videos give fewer than two classes; the type head needs anomalies and normal footage")
    return TypeHead.fit(np.stack(features), names)
