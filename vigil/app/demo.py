"""The whole path offline (``vigil demo``): a synthetic camera, fitted on its normal footage, its
test videos watched, the alerts scored against the ground truth, an HTML report.

Nothing here prints: the stages are announced to ``note``, alerts go to ``on_alert``, and the
result comes back in a :class:`DemoResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.app.data import SynthRequest, synth
from vigil.app.progress import CountTask, VideoProgress, no_video_progress
from vigil.app.runtime import ModelOptions, Overrides
from vigil.app.watch import WatchRequest, WatchRun, run_watch

CAMERA = "plaza"


def _ignore(_: str) -> None:
    return None


@dataclass
class DemoRequest:
    """Where the demo works and with which scene and models."""

    out: str = "demo-out"
    seed: int = 0
    models: ModelOptions = field(default_factory=ModelOptions)


@dataclass
class DemoResult:
    """The watch, the alert report, its text summary, the HTML report and the time taken."""

    run: WatchRun
    report: Any
    summary: str
    html: Path
    seconds: float


def run_demo(request: DemoRequest, overrides: Overrides, *, note: Callable[[str], None] = _ignore,
             on_alert: Callable[[Any], None] | None = None, warn: Callable[[str], None] = _ignore,
             say: Callable[[str], None] = _ignore, on_error: Callable[[str], None] = _ignore,
             rendering: CountTask | None = None, progress: VideoProgress = no_video_progress) -> DemoResult:
    """Run the demo in ``request.out`` (a new or empty folder, or one an earlier demo made: it
    touches only what it wrote there)."""
    from data_engine.owned import demo_folder
    from eval.alerts import evaluate_alerts, format_alert_report
    from vigil.app.report import write_report
    from vigil.core.schemas import load_ground_truth
    from vigil.core.store import DataDir

    out = Path(request.out)
    folder, fresh = demo_folder(out, request.seed)  # only a folder the demo made; it touches only what it wrote
    started = time.perf_counter()
    if fresh:
        note(f"rendering a synthetic camera into {out}/ ...")
        synth(SynthRequest(out=str(out), seed=request.seed), rendering)
    # the demo keeps its own data dir, but detectors come from the usual model cache
    settings = overrides.settings_of(out / "vigil.yaml", out / "data")
    camera = settings.camera(CAMERA, must_exist=True)
    data = DataDir(settings.data_dir)
    if fresh or not (data.profile_dir(CAMERA) / "profile.json").is_file():
        folder.remove("data")  # a new scene: start from a clean data dir (the demo's own, never another)
        folder.add("data")
        note("fitting the camera on its normal footage ...")
        from perception.fitting import FitOptions, fit_profile

        train = sorted(str(p) for p in (out / "train").glob("*.mp4"))
        fit_profile(CAMERA, train, camera, FitOptions(models_dir=settings.model_cache)).save(data.profile_dir(CAMERA))
    tests = sorted(str(p) for p in (out / "test").glob("*.mp4"))
    note(f"watching {len(tests)} test videos ...")
    run = run_watch(WatchRequest(CAMERA, tests, models=request.models), settings, camera, data, on_alert=on_alert,
                    warn=warn, say=say, on_error=on_error, progress=progress)
    results, backend = run.results, run.backend
    truth = load_ground_truth(out / "gt.json")
    with data.open_store() as store:
        test_dir = (out / "test").resolve()
        alerts = [a for a in store.alerts(CAMERA) if Path(a["source"]).resolve().parent == test_dir]
        report = evaluate_alerts(truth, alerts)
        normal_s = sum(r.video_s for r in results if not truth.get(Path(r.source).stem, None) or not truth[Path(r.source).stem].events)
        normal_calls = sum(r.llm_calls for r in results if not truth[Path(r.source).stem].events)
        summary = format_alert_report(report)
        summary += (f"\nLLM calls per minute of normal footage: {60 * normal_calls / max(normal_s, 1e-9):.2f} "
                    f"({'rule policy' if backend is None else backend.label})")
        folder.add("report.html")
        html = write_report(store, CAMERA, out / "report.html", truth=truth, threshold=camera.threshold,
                            title="Vigil demo: synthetic plaza", summary=summary)
    return DemoResult(run, report, summary, html, time.perf_counter() - started)


def bench_settings(out: Path, data_dir: Path, models_dir: Path | None = None) -> Any:
    """The settings of a load test's folder (its vigil.yaml, no environment) with ``data_dir``."""
    from vigil.core.config import load_settings

    overrides = {"data_dir": str(data_dir)}
    if models_dir is not None:
        overrides["models_dir"] = str(models_dir)
    return load_settings(out / "vigil.yaml", environ={}, overrides=overrides)


def clear_serve_data(out: Path) -> None:
    """Remove what the load test's last run stored in ``out`` (only a folder it made)."""
    from data_engine.owned import SERVE_BENCH, OwnedFolder

    OwnedFolder.claim(out, SERVE_BENCH).remove("serve-data")


def prepare_bench_camera(out: Path, camera_id: str, seed: int = 0, models_dir: Path | None = None,
                         say: Callable[[str], None] = _ignore) -> tuple[Path, list[str]]:
    """Render and fit the load test's camera (``vigil bench serve``) in ``out`` unless done
    before; returns the data dir and the test videos."""
    from data_engine.owned import SERVE_BENCH, demo_folder
    from data_engine.synthetic import SynthSpec, synthesize
    from perception.fitting import FitOptions, fit_profile

    # only a folder this command made: it removes and rewrites only what it wrote there
    folder, fresh = demo_folder(out, seed, by=SERVE_BENCH)
    data = out / "data"
    if fresh:
        folder.remove("data")
        folder.add("data", "serve-data")
        say(f"rendering a synthetic camera into {out}/ ...")
        # the demo's camera: every anomaly type once, three normal test videos
        synthesize(SynthSpec(seed=seed, n_train=4, per_type=1, n_normal_test=3, duration=45.0, fps=15.0,
                             width=320, height=240), out)
    settings = bench_settings(out, data, models_dir)
    if not (data / camera_id / "profile" / "profile.json").is_file():
        say("fitting the camera on its normal footage ...")
        train = sorted(str(p) for p in (out / "train").glob("*.mp4"))
        fit_profile(camera_id, train, settings.camera(camera_id), FitOptions(models_dir=settings.model_cache)).save(
            data / camera_id / "profile")
    return data, sorted(str(p) for p in (out / "test").glob("*.mp4"))
