"""Fitting a camera: learn what its normal footage looks like.

1. the encoder learns what it needs (the motion encoder: background, perspective, footfall);
2. every window of the normal videos is embedded (stride ``fit_stride``);
3. every normal video is scored by a model fitted on the other videos (or, with one video,
   its last quarter by a model fitted on the rest); those held-out distances set the per-cell
   and per-level scales and the calibration of the final model, which keeps all windows;
4. the object path (unless ``detection.detector`` is ``none``): the detector runs over the
   normal videos at its rate (its input size chosen from the camera's person sizes when
   ``auto``), the one tracker follows its boxes and the unexplained foreground, a person scale
   is fitted on people's boxes, and every window's objects become the normal object bank;
   held out the same way, their distances set the object level's scale, and the calibration
   of the fused score (the larger of cell and object levels);
5. the Engram memory learns its codebook and counts the normal n-grams;
6. with labelled videos (``gt.json``), the type head is trained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from perception.detect import GROUPS, get_detector
from perception.detect.blobs import BlobDetector
from perception.detect.yolo import MAX_INPUT, input_size_for
from perception.encoders import Encoder, get_encoder
from perception.encoders.motion import MotionEncoder
from perception.pipeline import embed_windows, open_camera_video, threaded_frames
from perception.profile import CameraProfile
from perception.score.engram import EngramMemory
from perception.score.head import NORMAL, TypeHead
from perception.score.scoring import Calibration, NormalityModel, fuse_levels
from perception.source.video import Frame
from perception.track.norms import BLOB_SETTINGS, TRACK_SETTINGS, TrackNorms
from perception.track.objects import (
    OBJECT_FEATURES,
    ObjectNormality,
    ObjectStage,
    StageSettings,
    activity_region,
    crop_region,
    fit_scale,
    object_features,
)
from perception.track.scene import NormalBlobs, normal_track_evidence
from perception.track.tracking import PersonScale, Track, TrackerSettings, frame_aspect
from vigil.core.config import CameraConfig, DetectionConfig
from vigil.core.errors import DataError
from vigil.core.schemas import load_ground_truth

#: detectors that see the frame at an input size fitting chooses (``detection.input_size: auto``)
GRID_DETECTORS = ("yolov3-tiny", "yolo11n")

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
    exceedance: bool | None = None  # one-sided feature tests on top of kNN; None: detection.cell_exceedance
    models_dir: str | Path | None = None  # the model cache, for detectors with weights files


@dataclass
class _VideoEmbeddings:
    cells: np.ndarray    # (N, R, C, F)
    vectors: np.ndarray  # (N, D)
    spans: np.ndarray    # (N, 2) ts_start, ts_end
    tracks: list[Track] = field(default_factory=list)  # every object the object path followed
    frame_size: tuple[int, int] | None = None
    rows: list[np.ndarray] = field(default_factory=list)  # per window: (M, F) object features
    track_ids: list[list[int]] = field(default_factory=list)  # per window: the rows' track ids


def _embed_video(encoder: Encoder, path: str, cam: CameraConfig, stride: int, progress: Progress | None,
                 stage: ObjectStage | None = None, blobs: NormalBlobs | None = None) -> _VideoEmbeddings:
    cells, vectors, spans = [], [], []
    with open_camera_video(path, cam) as video:
        batch = int(getattr(getattr(encoder, "config", None), "batch_size", 1) or 1)
        frames: Iterable[Frame] = threaded_frames(video)
        if stage is not None:
            stage.reset()
            frames = _tap(frames, lambda f: stage.push(f.t, f.image))
        if blobs is not None:
            frames = _tap(frames, blobs.push)
        for window, emb in embed_windows(encoder, frames, size=cam.window, stride=stride, fps=cam.fps, batch=batch):
            cells.append(emb.cells)
            vectors.append(emb.vector)
            spans.append((window.ts_start, window.ts_end))
            if progress:
                progress(path, window.ts_end)
    if blobs is not None:
        blobs.end_video()
    if not cells:
        raise DataError(f"{path}: no frames could be read")
    tracks = list(stage.tracker.tracks.values()) if stage is not None else []
    return _VideoEmbeddings(np.stack(cells), np.stack(vectors), np.array(spans), tracks,
                            stage.frame_size if stage is not None else None)


def _tap(frames: Iterable[Frame], fn: Callable[[Frame], Any]) -> Iterator[Frame]:
    for f in frames:
        fn(f)
        yield f


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
    det_cfg = camera.detection
    encoder = get_encoder(opts.encoder, fps=camera.fps, **{**_encoder_detection(opts.encoder, det_cfg), **opts.encoder_options})
    stride = max(1, min(camera.stride, opts.fit_stride))

    def sampled(path: str):
        with open_camera_video(path, camera, fps=min(opts.background_fps, camera.fps)) as video:
            for frame in video.frames():
                yield frame.image

    if type(encoder).fit is not Encoder.fit:
        encoder.fit(sampled(v) for v in videos)
    scene_state = None
    scene_encoder = encoder if isinstance(encoder, MotionEncoder) else None
    if scene_encoder is None:
        # scene facts (tracks, zones) need a background and a perspective whatever the encoder
        scene = MotionEncoder(fps=camera.fps, **_encoder_detection("motion", det_cfg))
        scene.fit(sampled(v) for v in videos)
        scene_state = scene.state()
        scene_encoder = scene
    need_s = (camera.window + (MIN_FIT_WINDOWS - 1) * stride) / camera.fps

    def too_short(got_s: float, n_windows: int) -> DataError:
        return DataError(f"not enough normal footage to fit camera {camera_id!r}: {got_s:.1f} s gave {n_windows} "
                         f"window(s); give at least {need_s:.0f} s of normal video (more is better: minutes)")

    stage = None
    if det_cfg.detector != "none":
        n_frames, frames = _spread(f for v in videos for f in sampled(v))
        got_s = n_frames / min(opts.background_fps, camera.fps)
        if got_s < need_s:  # said before any detector work (or its warnings)
            raise too_short(got_s, max(0, int((got_s * camera.fps - camera.window) // stride) + 1))
        stage = _object_stage(det_cfg, frames, opts.models_dir)
        del frames
    # the normal blob tracks (the blob rules' yardstick) are followed in the same pass
    blobs = NormalBlobs(scene_encoder, camera.fps, {k: getattr(det_cfg, k) for k in BLOB_SETTINGS}, zones=camera.zones)
    embedded = [_embed_video(encoder, v, camera, stride, progress, stage, blobs) for v in videos]
    n_windows = sum(len(e.cells) for e in embedded)
    if n_windows < MIN_FIT_WINDOWS:
        raise too_short(sum(float(e.spans[-1, 1] - e.spans[0, 0]) for e in embedded), n_windows)

    all_cells = np.concatenate([e.cells for e in embedded])
    all_vectors = np.concatenate([e.vectors for e in embedded])
    one_sided = _exceedance(opts, det_cfg, stage) and bool(getattr(encoder, "one_sided", False))
    names = list(encoder.feature_names or [])
    tested = [i for i, n in enumerate(names) if n not in getattr(encoder, "place_features", ())] if names else None
    final = NormalityModel(all_cells, all_vectors, kind=opts.scorer, k=opts.k, exceedance=one_sided,  # type: ignore[arg-type]
                           exceed_features=tested)
    *held, held_index = _held_out(embedded, final, opts, camera.window, stride)
    cell_raw = final.calibrate(*held)
    objects = scale = None
    fused = None
    object_cal = None
    norms = None
    if stage is not None:
        scale, objects, obj_levels = _fit_objects(embedded, held_index, stage.settings.memory_s, opts.k)
        videos = [(e.tracks, e.frame_size) for e in embedded]
        evidence = measured = None
        if stage.detector is not None:  # what the rules on named people measure, on the normal people
            measured = {k: float(getattr(det_cfg, k)) for k in TRACK_SETTINGS}
            evidence = normal_track_evidence(videos, stage.detector.classes, scale, **measured)
        norms = TrackNorms.fit(videos, scale, evidence=evidence, measured=measured)
        if objects is not None:
            positive = obj_levels[obj_levels > 0]
            ocal = Calibration.fit(positive if positive.size >= 10 else np.maximum(obj_levels, 1e-3))
            object_cal = (ocal.median, ocal.high)
            cal = Calibration.fit(fuse_levels(cell_raw, obj_levels))
            fused = (cal.median, cal.high)
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
        detector_state=stage_detector_state(stage) if objects is not None else None,
        blob_state=stage.blobs.state() if objects is not None and stage is not None and stage.blobs is not None
        and stage.detector is not None else None,
        person_scale=scale.to_list() if objects is not None and scale is not None else None,
        objects=objects,
        stage=_stage_state(stage, det_cfg.detector_fps) if objects is not None else None,
        fused_calibration=fused,
        object_calibration=object_cal,
        track_norms=norms if objects is not None else None,
        blob_norms=blobs.norms(),
    )


def _exceedance(opts: FitOptions, det: DetectionConfig, stage: ObjectStage | None) -> bool:
    """Whether the cells are also tested one-sidedly (``detection.cell_exceedance``; ``auto``: where
    no detector follows the objects, so the cells alone say what is unusual about them)."""
    if opts.exceedance is not None:
        return opts.exceedance
    if det.cell_exceedance != "auto":
        return bool(det.cell_exceedance)
    return stage is None or stage.detector is None


def _held_out(
    embedded: list[_VideoEmbeddings], final: NormalityModel, opts: FitOptions, window: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, np.ndarray, np.ndarray]]]:
    """Distances (and feature exceedances) of normal windows scored by a model that never saw them.

    With several videos, each is scored by a model fitted on the others (they differ in
    light and in who walks by, as new footage will); with one, its last quarter is scored by
    a model fitted on the rest, leaving a window's length between the two. The last item says
    which windows were held out: ``(video, held-out window indices, training window indices)``
    in the order of the rows, so the object level is held out the same way.
    """
    scales = {"cell_feature_scale": final.cell_feature_scale, "vector_scale": final.vector_scale}

    def model(cells: list[np.ndarray], vectors: list[np.ndarray]) -> NormalityModel:
        return NormalityModel(np.concatenate(cells), np.concatenate(vectors), kind=opts.scorer, k=opts.k,  # type: ignore[arg-type]
                              scales=scales, exceedance=final.exceedance, exceed_features=final.exceed_features)

    dists, wins, excs = [], [], []
    index: list[tuple[int, np.ndarray, np.ndarray]] = []
    if len(embedded) >= 2:
        for i, e in enumerate(embedded):
            others = [o for j, o in enumerate(embedded) if j != i]
            d, w, x = model([o.cells for o in others], [o.vectors for o in others]).held_out_distances(e.cells, e.vectors)
            dists.append(d)
            wins.append(w)
            excs.append(x)
            index.append((i, np.arange(len(e.cells)), np.array([], int)))
    else:
        e = embedded[0]
        n = len(e.cells)
        cut = int(n * 0.75)
        gap = int(np.ceil(window / stride))
        if n < 12 or n - cut - gap < 2:
            log.warning("normal footage is too short to hold part of it out; calibrating on the training windows")
            d, w, x = final.held_out_distances(e.cells, e.vectors)
            return d, w, x, [(0, np.arange(n), np.arange(n))]
        d, w, x = model([e.cells[:cut]], [e.vectors[:cut]]).held_out_distances(e.cells[cut + gap :], e.vectors[cut + gap :])
        dists.append(d)
        wins.append(w)
        excs.append(x)
        index.append((0, np.arange(cut + gap, n), np.arange(cut)))
    return np.concatenate(dists), np.concatenate(wins), np.concatenate(excs), index


def _encoder_detection(encoder: str, det: DetectionConfig) -> dict[str, Any]:
    """The motion encoder's settings that the camera's ``detection`` section sets."""
    if encoder != "motion":
        return {}
    return {"fg_sigma": det.fg_sigma, "fg_floor": det.fg_floor, "slow_speed": det.dwell_speed,
            "group_size": det.group_size}


#: normal frames the object stage is set up on (background, activity region, detector probe)
STAGE_FRAMES = 800


def _spread(frames: Iterable[np.ndarray], keep: int = STAGE_FRAMES) -> tuple[int, list[np.ndarray]]:
    """How many ``frames`` there were, and at most ``2 * keep`` of them spread evenly over all
    (every other one is let go whenever the list fills up), so memory does not grow with the footage."""
    kept: list[np.ndarray] = []
    step, n = 1, 0
    for frame in frames:
        if n % step == 0:
            kept.append(frame)
            if len(kept) >= 2 * keep:
                kept, step = kept[::2], step * 2
        n += 1
    return n, kept


def _object_stage(det: DetectionConfig, frames: Sequence[np.ndarray], models_dir: str | Path | None) -> ObjectStage:
    """The object path for fitting: detector (input size chosen on normal ``frames`` when ``auto``),
    the blob detector fitted on them, and a tracker that keeps every track. When the detector
    does not see this camera's movers (see ``detection.min_coverage``) the stage follows
    foreground blobs alone, as with ``detector: blobs``."""
    blobs = BlobDetector(settings={"sigma": det.fg_sigma, "floor": det.fg_floor})
    blobs.fit(frames)
    detector = None
    region = (0.0, 0.0, 1.0, 1.0)
    probe = [frames[i] for i in np.linspace(0, len(frames) - 1, min(24, len(frames))).astype(int)] if frames else []
    if det.detector not in ("blobs",) and frames:
        # the detector looks only where things move in this camera (sky and facades cost time)
        h, w = frames[0].shape[:2]
        region = activity_region(np.concatenate([blobs.regions(f) for f in frames]), (w, h))
    if det.detector in GRID_DETECTORS:
        crops = [crop_region(f, region)[0] for f in probe]
        size = _auto_input_size(crops, models_dir, det.detector) if det.input_size == "auto" else int(det.input_size)
        detector = get_detector(det.detector, models_dir=models_dir, input_size=int(size))
        if det.precision == "int8" and crops:  # yolov3-tiny only (the settings say so)
            detector = detector.quantize(crops)  # calibrated on this camera's normal frames
    elif det.detector != "blobs":
        detector = get_detector(det.detector, weights=det.weights)
    if detector is not None:
        # does the detector see what moves here? a few normal frames say, before any long work
        check = ObjectStage(detector, blobs, StageSettings(min_confidence=det.min_confidence, region=region))
        for image in probe:
            check.detect(image)
        log.info("detector coverage of the normal foreground: %.0f%%", 100 * (check.coverage or 0.0))
        if (check.coverage or 0.0) < det.min_coverage:
            log.warning("the %s detector covered %.0f%% of what moved in %d normal frames (less than "
                        "detection.min_coverage %.0f%%): objects here are followed as foreground blobs",
                        det.detector, 100 * (check.coverage or 0.0), len(probe), 100 * det.min_coverage)
            detector, region = None, (0.0, 0.0, 1.0, 1.0)
    settings = StageSettings(detector_fps=det.fit_detector_fps, flagged_fps=det.flagged_fps,
                             blob_flagged_fps=det.blob_flagged_fps, flag_score=det.flag_score,
                             unexplained_blobs=det.unexplained_blobs, min_confidence=det.min_confidence,
                             memory_s=det.object_memory_s, region=region, crops=det.detect_crops,
                             full_look_s=det.full_look_s, carry=det.carry_tracks)
    tracker = TrackerSettings(lost_s=det.track_lost_s, keep_s=1e9)  # fitting keeps every track to the end
    return ObjectStage(detector, blobs, settings, tracker)


def _auto_input_size(pick: Sequence[np.ndarray], models_dir: str | Path | None, name: str = "yolov3-tiny") -> int:
    """The detector's input size for this camera: a generous probe on a few normal frames finds
    its people; the smaller of them (10th percentile) should be the detector's ``person_px``
    network pixels tall (32 for YOLOv3-tiny's boxes)."""
    if not pick:
        return 416
    h, w = pick[0].shape[:2]
    probe = int(min(MAX_INPUT, max(416, round(3 * max(h, w) / 32) * 32)))
    detector = get_detector(name, models_dir=models_dir, input_size=probe)
    heights = []
    for dets in detector.detect(pick):
        groups = np.asarray(dets.data.get("groups", np.zeros((0, 1)))) if len(dets) else np.zeros((0, 1))
        for box, conf, g in zip(dets.xyxy, dets.confidence, groups):
            if conf >= 0.3 and int(np.argmax(g)) == 0:  # confident people
                heights.append(float(box[3] - box[1]))
    size = input_size_for(np.array(heights), max(h, w), target_px=getattr(detector, "person_px", 32.0))
    log.info("detector input %d px (people found in %d probe frames: %d)", size, len(pick), len(heights))
    return size


def _stage_state(stage: ObjectStage, runtime_fps: float) -> dict[str, Any]:
    """The stage's settings as the profile keeps them (``runtime_fps``: the ordinary rate of
    watching, which may be lower than fitting's)."""
    s = stage.settings
    t = stage._tracker_settings
    return {"detector_fps": runtime_fps, "flagged_fps": s.flagged_fps, "blob_flagged_fps": s.blob_flagged_fps,
            "flag_score": s.flag_score,
            "unexplained_blobs": s.unexplained_blobs, "min_confidence": s.min_confidence, "memory_s": s.memory_s,
            "region": list(s.region), "crops": s.crops, "full_look_s": s.full_look_s, "carry": s.carry,
            "tracker": {"lost_s": t.lost_s, "activation": t.activation, "high_confidence": t.high_confidence,
                        "min_iou": t.min_iou}}


def stage_detector_state(stage: ObjectStage) -> dict[str, Any]:
    """What the profile keeps of the stage's detector (the blob detector when it is the detector)."""
    if stage.detector is not None:
        return stage.detector.state()
    assert stage.blobs is not None
    return stage.blobs.state()


def _fit_objects(embedded: list[_VideoEmbeddings], held_index: list[tuple[int, np.ndarray, np.ndarray]], memory_s: float,
                 k: int) -> tuple[PersonScale, ObjectNormality | None, np.ndarray]:
    """Person scale, the normal object bank and the held-out object level of every held-out window."""
    obs = [(o.feet[1], o.height, GROUPS[int(np.argmax(o.groups))]) for e in embedded for tr in e.tracks
           for o in tr.observations if not o.by_flow and o.height >= 0.8 * o.width * (e.frame_size[0] / e.frame_size[1] if e.frame_size else 1.0)]
    scale = fit_scale(obs)
    for e in embedded:
        e.rows, e.track_ids = [], []
        aspect = frame_aspect(e.frame_size) if e.frame_size else 4 / 3
        for t0, t1 in e.spans:
            rows, ids = [], []
            for tr in e.tracks:
                f = object_features(tr, float(t0), float(t1), scale, aspect)
                if f is not None:
                    rows.append(f)
                    ids.append(tr.track_id)
            e.rows.append(np.stack(rows) if rows else np.zeros((0, len(OBJECT_FEATURES)), np.float32))
            e.track_ids.append(ids)
    bank = [r for e in embedded for r in e.rows if len(r)]
    n_held = sum(len(h) for _v, h, _t in held_index)
    if not bank:
        log.info("no objects in the normal footage: the object level is off for this camera")
        return scale, None, np.zeros(n_held)
    full = ObjectNormality(np.concatenate(bank), k=k)
    raw: list[np.ndarray] = []
    for v, held, train in held_index:
        if len(embedded) >= 2:
            rows = [r for j, e in enumerate(embedded) if j != v for r in e.rows if len(r)]
        else:
            rows = [embedded[v].rows[i] for i in train if len(embedded[v].rows[i])]
        if not rows:
            raw.append(np.zeros(len(held)))
            continue
        model = ObjectNormality(np.concatenate(rows), k=k, scale=full.scale)
        raw.append(_window_maxima(model, embedded[v], held, memory_s))
    held_raw = np.concatenate(raw) if raw else np.zeros(0)
    full.calibrate(held_raw)
    return scale, full, held_raw / max(full.level_scale, 1e-6)


def _window_maxima(model: ObjectNormality, e: _VideoEmbeddings, windows: np.ndarray, memory_s: float) -> np.ndarray:
    """Per window, the highest object distance, each track remembering its peak for ``memory_s``."""
    peaks: dict[int, tuple[float, float]] = {}
    out = np.zeros(len(windows))
    for n, i in enumerate(windows):
        rows, ids, t = e.rows[i], e.track_ids[i], float(e.spans[i, 1])
        if not len(rows):
            continue
        best = 0.0
        for tid, d in zip(ids, model.distances(rows)):
            past = peaks.get(tid)
            if past is not None and t - past[0] <= memory_s and past[1] >= d:
                d = past[1]
            else:
                peaks[tid] = (t, float(d))
            best = max(best, float(d))
        out[n] = best
    return out


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
