"""Measurements (``vigil eval ...``): VAD metrics, scorers compared, samplers, stored alerts,
captions, VLM predictions, and questions about synthetic footage against its ground truth.

Each function checks its inputs, runs the measurement and returns its report; the reports'
``format_*`` functions (re-exported here) give the text the command line prints. Nothing here
prints: warnings go to ``warn``, stage notes to ``note``.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vigil.app.ask import Asker
from vigil.app.fit import readable_videos
from vigil.app.progress import (
    CountTask,
    TrainingTask,
    VideoProgress,
    count_task,
    no_training_task,
    no_video_progress,
)
from vigil.app.runtime import ModelOptions, Overrides, camera_and_data, probe_endpoint
from vigil.core.errors import ConfigError, DataError, UnknownCameraError

#: the two cameras ``vigil eval ask`` indexes the synthetic test videos under
ASK_CAMERAS = ("north", "south")


def _ignore(_: str) -> None:
    return None


# the reports' text, as the command line prints it (imported when asked for: eval is not light)
def format_report(report: Any) -> str:
    """A :func:`vad` report as text."""
    from eval.vad import format_report as fmt

    return fmt(report)


def format_sampler_report(report: Any) -> str:
    """A :func:`sampler` report as text."""
    from eval.sampler import format_sampler_report as fmt

    return fmt(report)


def format_alert_report(report: Any) -> str:
    """An :func:`alerts` report as text."""
    from eval.alerts import format_alert_report as fmt

    return fmt(report)


def format_caption_report(report: dict[str, Any]) -> str:
    """A :func:`captions` report as text."""
    from eval.captions import format_caption_report as fmt

    return fmt(report)


def format_table(report: Any) -> str:
    """A :func:`compare` report as text."""
    from eval.compare import format_table as fmt

    return fmt(report)


def format_ask_report(report: Any) -> str:
    """An :func:`ask` report as text."""
    from eval.ask import format_ask_report as fmt

    return fmt(report)


def vad(gt: str, scores: str) -> Any:
    """Frame-level AUC and AP of per-video score files."""
    from eval.vad import evaluate_files

    return evaluate_files(gt, scores)


def sampler(gt: str, scores: str, ns: Sequence[int], tau: float) -> Any:
    """ATS vs uniform vs top-k over the videos with anomalies."""
    from eval.sampler import evaluate_sampler_files

    if not math.isfinite(tau) or tau < 0:
        raise ConfigError(f"--tau {tau}: must be a finite number >= 0 (the ATS density floor; default 0.1)")
    if any(n < 1 for n in ns):
        raise ConfigError(f"--n {' '.join(map(str, ns))}: every N must be at least 1")
    return evaluate_sampler_files(gt, scores, list(ns), tau=tau)


def alerts(gt: str, camera_id: str, overrides: Overrides) -> Any:
    """A camera's stored alerts against the ground truth."""
    from eval.alerts import evaluate_alerts
    from vigil.core.schemas import load_ground_truth
    from vigil.core.store import DataDir

    settings = overrides.settings()
    truth = load_ground_truth(gt)
    data = DataDir(settings.data_dir)
    with data.open_store() as store:
        known = sorted({r["camera_id"] for r in store.videos()} | set(data.fitted_cameras()))
        if camera_id not in known:
            raise UnknownCameraError(f"unknown camera {camera_id!r} (known: {', '.join(known) or 'none yet'}; "
                                     "watch its footage first with vigil watch)")
        found = [a for a in store.alerts(camera_id) if Path(a["source"]).stem in truth]
    return evaluate_alerts(truth, found)


def captions(gt: str, pred: str) -> dict[str, Any]:
    """BLEU, METEOR, ROUGE-L and CIDEr of predictions (its ``warnings`` are for the user)."""
    from data_engine.hivau import read_rows
    from eval.captions import evaluate_captions

    return evaluate_captions(read_rows(gt), read_rows(pred), gt_name=gt, pred_name=pred)


@dataclass
class CompareRequest:
    """What ``vigil eval compare`` compares."""

    camera_id: str
    normal: list[str]
    videos: list[str]
    gt: str
    out: str
    scorers: str = "motion,aedmae,framepred"
    steps: int | None = None
    scorer_set: list[str] = field(default_factory=list)


def compare(request: CompareRequest, overrides: Overrides, *, log: Callable[[str], None] = _ignore,
            on_error: Callable[[str], None] = _ignore, training: TrainingTask = no_training_task) -> Any:
    """Scorers side by side on the same footage."""
    import yaml

    from eval.compare import LEARNED, parse_scorers
    from eval.compare import compare as run

    names = parse_scorers(request.scorers)
    per: dict[str, dict[str, Any]] = {n: {} for n in LEARNED}
    for item in request.scorer_set:
        key, sep, value = item.partition("=")
        scorer, dot, field_name = key.partition(".")
        if not sep or not dot or scorer not in per:
            raise ConfigError(f"--set {item!r}: write SCORER.KEY=VALUE with SCORER one of {', '.join(LEARNED)}")
        per[scorer][field_name.strip()] = yaml.safe_load(value)
    if request.steps is not None:
        for n in per:
            per[n].setdefault("steps", request.steps)
    settings = overrides.settings()
    camera, _ = camera_and_data(settings, request.camera_id)
    normal, failed = readable_videos(request.normal, camera, on_error)
    test, failed_test = readable_videos(request.videos, camera, on_error)
    if failed or failed_test:
        raise DataError(f"{len(failed) + len(failed_test)} video(s) could not be read; the comparison needs them all")
    with training("training") as progress:
        return run(request.camera_id, camera, normal, test, request.gt, names, Path(request.out), settings=per,
                   models_dir=settings.model_cache, log=log, progress=progress)


@dataclass
class PredictRequest:
    """What ``vigil eval predict`` asks the VLM."""

    instructions: str
    videos: str
    out: str
    sampler: str = "ats"
    frames: int = 8
    scores: str | None = None
    limit: int | None = None


def predict(request: PredictRequest, overrides: Overrides, *, predicting: CountTask | None = None) -> Any:
    """Ask a vision-language model every instruction (resumable); the report."""
    from data_engine.hivau import read_rows
    from eval.predict import predict as run
    from vigil.core.llm import LLMError, VisionClient

    settings = overrides.settings()
    if not settings.vlm.configured:
        raise ConfigError("no VLM endpoint: give --vlm-url (and --vlm-model), or set VIGIL_VLM_URL")
    if request.frames < 1 or request.frames > 64:
        raise ConfigError(f"--frames {request.frames}: must be 1 to 64")
    rows = read_rows(request.instructions)
    if not Path(request.videos).is_dir():  # local problems first, then the endpoint
        raise DataError(f"--videos {request.videos}: folder not found (it must hold the items' video files)")
    if request.scores and not Path(request.scores).is_dir():
        raise DataError(f"--scores {request.scores}: folder not found (vigil score --out DIR writes one)")
    if request.limit is not None:
        rows = rows[: max(0, request.limit)]
    problem = probe_endpoint(settings.vlm)
    if problem:
        raise LLMError(f"VLM endpoint {settings.vlm.url} {problem}")
    with count_task(predicting, len(rows)) as tick:
        return run(rows, request.videos, VisionClient(settings.vlm), request.out, sampler=request.sampler,
                   n_frames=request.frames, scores_dir=request.scores, progress=tick)


@dataclass
class AskEvalRequest:
    """What ``vigil eval ask`` checks: a synthetic folder, a question set, a data dir, models."""

    data: str
    questions: str | None = None
    data_dir: str | None = None
    models: ModelOptions = field(default_factory=ModelOptions)


def ask(request: AskEvalRequest, overrides: Overrides, *, note: Callable[[str], None] = _ignore,
        warn: Callable[[str], None] = _ignore, indexing: VideoProgress = no_video_progress,
        asking: CountTask | None = None) -> Any:
    """Questions about synthetic footage against its ground truth; the :class:`~eval.ask.AskReport`."""
    from agents.ask import AskScope
    from eval.ask import QUESTIONS_FILE, AskReport, Footage, judge, load_questions
    from vigil.core.schemas import load_ground_truth
    from vigil.core.store import DataDir

    out = Path(request.data)
    for need in ("gt.json", "vigil.yaml", "test"):
        if not (out / need).exists():
            raise DataError(f"{out}: no {need}; expected a folder written by vigil data synth")
    questions = load_questions(request.questions or QUESTIONS_FILE)
    truth = load_ground_truth(out / "gt.json")
    settings = overrides.settings_of(out / "vigil.yaml", request.data_dir or str(out / "ask-data"))
    plaza = settings.camera("plaza", must_exist=True)
    for cam in ASK_CAMERAS:  # two cameras looking at the same plaza
        settings.cameras[cam] = plaza.model_copy(deep=True)
    data = DataDir(settings.data_dir)
    if any(not (data.profile_dir(c) / "profile.json").is_file() for c in ASK_CAMERAS):
        demo_profile = out / "data" / "plaza" / "profile"
        if not (demo_profile / "profile.json").is_file():
            from perception.fitting import FitOptions, fit_profile

            note("fitting the camera on its normal footage ...")
            train = sorted(str(p) for p in (out / "train").glob("*.mp4"))
            if not train:
                raise DataError(f"{out}/train: no normal videos to fit the camera on")
            demo_profile = data.profile_dir(ASK_CAMERAS[0])
            fit_profile(ASK_CAMERAS[0], train, plaza, FitOptions(models_dir=settings.model_cache)).save(demo_profile)
        for cam in ASK_CAMERAS:
            if not (data.profile_dir(cam) / "profile.json").is_file():
                shutil.copytree(demo_profile, data.profile_dir(cam), dirs_exist_ok=True)
    tests = sorted((out / "test").glob("*.mp4"))
    names = [p.stem for p in tests if p.stem in truth]
    base = datetime(2026, 11, 23, 15, 0, 0)
    footage = Footage(truth={n: truth[n] for n in names},
                      camera_of={n: ASK_CAMERAS[k % 2] for k, n in enumerate(names)},
                      start_of={n: base + timedelta(minutes=k) for k, n in enumerate(names)},
                      paths={n: str(out / "test" / f"{n}.mp4") for n in names})
    with data.open_store() as store:
        asker = Asker(settings, data, store, models=request.models, progress=indexing)
        try:
            for w in asker.runtime.take_warnings():
                warn(w)
            started = time.perf_counter()
            todo = [n for n in names if not asker.indexed(footage.paths[n], footage.camera_of[n])]
            if todo:
                note(f"indexing {len(todo)} test video(s) under cameras {', '.join(ASK_CAMERAS)} ...")
            for n in todo:
                asker.scan(footage.paths[n], footage.camera_of[n], footage.start_of[n])
            index_s = time.perf_counter() - started
            judged = []
            with count_task(asking, len(questions)) as tick:
                for q in questions:
                    if q.scope.video is not None and q.scope.video not in footage.camera_of:
                        raise DataError(f"question {q.q!r}: no test video {q.scope.video} in {out}/test")
                    if q.scope.video is not None:
                        scope = AskScope(videos=[footage.paths[q.scope.video]], cameras=[footage.camera_of[q.scope.video]])
                    elif q.scope.camera is not None:
                        scope = AskScope(cameras=[q.scope.camera])
                    else:
                        scope = AskScope(all=True)
                    t0 = time.perf_counter()
                    answer, _ = asker.graph(scope).ask(q.q)
                    judged.append(judge(q, answer.model_dump(), footage, time.perf_counter() - t0))
                    tick(1)
        finally:
            asker.close()
    return AskReport(judged, index_seconds=index_s)
