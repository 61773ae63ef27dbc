"""Fitting a camera on its normal footage and scoring footage with it: the services behind
``vigil fit`` and ``vigil score``.

Nothing here prints: a video that cannot be read goes to ``on_error``, a remark to ``say``, and
the summaries come back for the command line to print.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.app.progress import (
    TrainingTask,
    VideoProgress,
    no_training_task,
    no_video_progress,
    nothing,
)
from vigil.app.runtime import Overrides, camera_and_data, load_profile, scan_camera
from vigil.core.errors import ConfigError, DataError, StoreError, VideoError

LEARNED = ("aedmae", "framepred", "fgclip")


def _ignore(_: str) -> None:
    return None


def readable_videos(videos: Sequence[str], camera: Any,
                    on_error: Callable[[str], None] = _ignore) -> tuple[list[str], list[str]]:
    """The videos that open (``on_error`` gets a message for each that does not) and those that do not."""
    from perception.pipeline import open_camera_video

    good, bad = [], []
    for v in videos:
        try:
            with open_camera_video(v, camera):
                good.append(v)
        except VideoError as exc:
            on_error(str(exc))
            bad.append(v)
    return good, bad


def parse_settings(items: Sequence[str], flag: str, example: str) -> dict[str, Any]:
    """``KEY=VALUE`` items as a dict (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: write KEY=VALUE, e.g. {example}")
        out[key.strip()] = yaml.safe_load(value)
    return out


@dataclass
class FitRequest:
    """What ``vigil fit`` fits (the command line's options, by name)."""

    camera_id: str
    normal: list[str]
    encoder: str = "motion"
    encoder_model: str | None = None
    scorer: str = "knn"
    steps: int | None = None
    scorer_set: list[str] = field(default_factory=list)
    resume: bool = False
    meta_train: list[str] | None = None
    meta_steps: int = 300
    meta_init: str | None = None
    adapt_frames: int | None = None
    labels: str | None = None
    engram: bool = True
    detector: str | None = None


@dataclass
class FitResult:
    """A fitted profile, where it was saved, and the summary ``--json`` prints."""

    profile: Any
    folder: Path
    summary: dict[str, Any]
    training: dict[str, Any]
    failed: list[str]


def fit(request: FitRequest, overrides: Overrides, *, on_error: Callable[[str], None] = _ignore,
        say: Callable[[str], None] = _ignore, fitting: Callable[[], Any] | None = None,
        training: TrainingTask = no_training_task) -> FitResult:
    """Fit ``request.camera_id`` on its normal footage and save the profile.

    Args:
        on_error: a message per normal video that cannot be read (the rest are fitted on).
        say: remarks (a resume with nothing to resume).
        fitting: a progress task for the fit: a context manager whose value is called with
            (video, seconds of it read).
        training: a progress task per training stage (``meta``, the scorer's name).
    """
    from perception.encoders import encoder_names
    from perception.fitting import FitOptions, fit_profile

    settings = overrides.settings()
    camera, data = camera_and_data(settings, request.camera_id)
    if request.encoder not in encoder_names():
        raise ConfigError(f"--encoder {request.encoder}: unknown encoder; choose one of: {', '.join(encoder_names())}")
    learned = request.scorer in LEARNED
    scorer_settings = _scorer_settings(request) if learned else {}
    if not learned and (request.steps or request.scorer_set or request.meta_train or request.meta_init
                        or request.adapt_frames or request.resume):
        raise ConfigError("--steps, --scorer-set, --resume, --meta-train, --meta-init and --adapt-frames apply to "
                          "--scorer aedmae, framepred or fgclip")
    if request.scorer != "framepred" and (request.meta_train or request.meta_init or request.adapt_frames):
        raise ConfigError("--meta-train, --meta-init and --adapt-frames apply to --scorer framepred")
    options = FitOptions(encoder=request.encoder, scorer="knn" if learned else request.scorer, engram=request.engram,
                         models_dir=settings.model_cache)
    if request.detector:
        camera = camera.model_copy(update={"detection": camera.detection.with_detector(request.detector)})
    if request.encoder_model:
        if request.encoder != "vjepa2":
            raise ConfigError("--encoder-model applies to --encoder vjepa2 only")
        options.encoder_options["model"] = request.encoder_model
    data.check_writable()  # before the work, not after it
    data.profile_dir(request.camera_id)
    normal, failed = readable_videos(request.normal, camera, on_error)
    if not normal:
        raise DataError("none of the normal videos could be read; nothing to fit on")
    started = time.perf_counter()
    reached: dict[str, float] = {}

    def progress(video: str, seconds: float) -> None:
        reached[video] = seconds
        tick(sum(reached.values()))

    with (fitting() if fitting is not None else _no_task()) as tick:
        profile = fit_profile(request.camera_id, normal, camera, options, labels=request.labels, progress=progress)
    trained: dict[str, Any] = {}
    if learned:
        trained = _train_frame_scorer(request, profile, normal, camera, data, settings, scorer_settings, say, training)
    try:
        folder = profile.save(data.profile_dir(request.camera_id))
    except OSError as exc:
        from vigil.core.datadir import is_disk_full

        if is_disk_full(exc):
            raise  # main() names the full disk
        raise StoreError(f"cannot save the profile under {data.profile_dir(request.camera_id)}: "
                         f"{exc.strerror or exc}") from None
    cal = profile.scorer.calibration
    summary = {
        "camera": request.camera_id,
        "profile": str(folder),
        "encoder": profile.encoder_version,
        "scorer": profile.scorer_name,
        "videos": len(normal),
        "unreadable": failed,
        "windows": profile.n_windows,
        "footage_s": round(sum(reached.values()), 1),
        "calibration": {"median_raw": round(cal.median, 4), "p99_raw": round(cal.high, 4)} if cal else None,
        "engram_patterns": len(profile.engram.counts) if profile.engram else 0,
        "detector": profile.detector_name,
        "detector_input": (profile.detector_state or {}).get("config", {}).get("input_size"),
        "normal_objects": int(len(profile.objects.raw_bank)) if profile.objects else 0,
        "type_head": profile.head.classes if profile.head else None,
        **trained,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return FitResult(profile, folder, summary, trained, failed)


class _no_task:
    def __enter__(self) -> Callable[..., None]:
        return nothing

    def __exit__(self, *exc: object) -> None:
        return None


def _scorer_settings(request: FitRequest) -> dict[str, Any]:
    """The frame scorer's settings from --steps, --scorer-set, --adapt-frames."""
    out = parse_settings(request.scorer_set, "--scorer-set", "size=96")
    if request.steps is not None:
        out["steps"] = request.steps
    if request.adapt_frames is not None:
        out["adapt_frames"] = request.adapt_frames
    return out


def _train_frame_scorer(request: FitRequest, profile: Any, normal: list[str], camera: Any, data: Any,
                        settings: Any, scorer_settings: dict[str, Any], say: Callable[[str], None],
                        training: TrainingTask) -> dict[str, Any]:
    """Meta-train (framepred, with --meta-train), then train the frame scorer onto the profile."""
    from perception.learned.maml import MetaConfig
    from perception.scorer_training import fit_frame_scorer, meta_train_framepred

    out: dict[str, Any] = {}
    scan_cam = scan_camera(profile, camera)

    init = request.meta_init
    if request.meta_train:
        init = init or str(Path(settings.model_cache) / "framepred-maml" / "init.pt")
        meta = {k: v for k, v in scorer_settings.items() if k not in ("steps", "adapt_frames")}
        with training("meta") as progress:
            report = meta_train_framepred(request.meta_train, scan_cam, Path(init), meta,
                                          MetaConfig(steps=request.meta_steps), progress=progress)
        out["meta"] = report.to_dict()
    if init:
        if not Path(init).is_file():
            raise DataError(f"--meta-init {init}: not found; make it with --meta-train DIR ...")
        scorer_settings["meta_init"] = str(init)
        out["meta_init"] = str(init)
    checkpoint = data.camera_dir(request.camera_id) / "train" / f"{request.scorer}.ckpt"
    if request.resume and not checkpoint.is_file():
        say(f"no interrupted {request.scorer} training of camera {request.camera_id!r} to resume; starting afresh")
    with training(request.scorer) as progress:
        reports = fit_frame_scorer(profile, normal, scan_cam, request.scorer, scorer_settings,
                                   progress=progress, checkpoint=checkpoint, resume=request.resume)
    checkpoint.unlink(missing_ok=True)  # the weights are in the profile now
    out["training"] = [r.to_dict() for r in reports]
    out["frame_calibration"] = {"median_raw": round(profile.frame_calibration[0], 4),
                                "p99_raw": round(profile.frame_calibration[1], 4)}
    return out


@dataclass
class ScoreRequest:
    """What ``vigil score`` scores."""

    camera_id: str
    videos: list[str]
    out: str
    encoder: str | None = None
    engram: bool = True
    per_video: bool = False


def score(request: ScoreRequest, overrides: Overrides, *, on_error: Callable[[str], None] = _ignore,
          progress: VideoProgress = no_video_progress) -> tuple[list[dict[str, Any]], list[str]]:
    """Score ``request.videos``: a CSV each, every window and candidate event stored.

    Returns:
        One row per video scored, and the videos that could not be read (``on_error`` was told).
    """
    from perception.pipeline import Scanner
    from perception.recording import StoreRecorder, write_score_csv
    from perception.source.video import identify_source

    settings = overrides.settings()
    camera, data = camera_and_data(settings, request.camera_id)
    profile = load_profile(data, request.camera_id)
    if request.encoder and request.encoder != profile.encoder_name:
        raise ConfigError(
            f"camera {request.camera_id!r} was fitted with the {profile.encoder_name} encoder, not {request.encoder}; "
            f"refit it with --encoder {request.encoder} or score without --encoder"
        )
    out = Path(request.out)
    single = len(request.videos) == 1 and out.suffix.lower() == ".csv"
    if not single and out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: for several videos, give a folder")
    scan_cam = scan_camera(profile, camera)
    scanner = Scanner(profile, scan_cam, use_engram=request.engram, models_dir=settings.model_cache)
    model_version = f"{profile.encoder_version}@{profile.created}"
    results, failed = [], []
    with data.open_store() as store:
        for video in request.videos:
            ref = identify_source(video)  # once; the key and content id travel from here
            recorder = StoreRecorder(store, request.camera_id, ref.key, model_version, scan_cam.threshold)
            with progress(str(video)) as tick:
                try:
                    result = scanner.scan(ref.key, on_window=recorder.window, on_event=recorder.event, progress=tick,
                                          content_id=ref.content_id)
                except VideoError as exc:  # this video is bad; the others are still scored
                    on_error(str(exc))
                    failed.append(str(video))
                    continue
            recorder.flush()
            csv_path = out if single else out / f"{Path(video).stem}.csv"
            rows = write_score_csv(csv_path, result.windows, result.frame_times, frames=result.frame_scores,
                                   types=result.frame_types, per_video=request.per_video)
            # scoring judges no event and follows no object for questions: a video only scored is
            # not indexed (vigil ask watches it first), unless a watch of this content already was
            prior = next((r for r in store.videos(request.camera_id)
                          if r["source"] == ref.key and r["content_id"] == ref.content_id), None)
            store.record_video(ref.key, request.camera_id, fps=result.fps, n_frames=result.n_frames,
                               duration_s=result.duration_s or result.read_until_s, model_version=model_version,
                               scanned_until=result.read_until_s, complete=bool(prior and prior["complete"]),
                               content_id=ref.content_id)
            results.append({
                "video": str(video),
                "csv": str(csv_path),
                "frames": rows,
                "windows": len(result.windows),
                "max_score": round(max((w.score for w in result.windows), default=0.0), 4),
                "events": [{"event_id": e.event_id, "start_s": e.start_s, "end_s": e.end_s,
                            "peak_score": e.peak_score} for e in result.events],
            })
    return results, failed
