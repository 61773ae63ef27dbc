"""Scorers side by side on the same footage: fit each on the normal videos, score the test videos.

``motion`` is the default path (motion encoder, kNN cell scores fused with the object path); the
learned frame scorers (``aedmae``, ``framepred``) are trained on the same normal footage and give
the score in its place (``fgclip``, zero-shot, only calibrates on it: ``--set fgclip.model=DIR``).
For every scorer the table has micro and macro AUC with the camera's own
calibration (what alerts use) and with each video min-max normalised (the offline protocol of the
published frame-level figures), the full pipeline's frames per second, the scorer's own frames
per second, and the pipeline rate relative to the default's, all measured in one run.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eval.vad import evaluate_files
from perception.fitting import FitOptions, fit_profile
from perception.pipeline import Scanner
from perception.profile import CameraProfile
from perception.recording import write_score_csv
from vigil.core.config import CameraConfig
from vigil.core.errors import ConfigError

DEFAULT = "motion"
LEARNED = ("aedmae", "framepred", "fgclip")


@dataclass
class ScorerRow:
    """One scorer's line of the table."""

    scorer: str
    micro_auc: float | None
    macro_auc: float | None
    micro_auc_per_video: float | None
    macro_auc_per_video: float | None
    pipeline_fps: float
    scorer_fps: float | None
    ratio_to_default: float | None
    fit_s: float
    training: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CompareReport:
    """What ``vigil eval compare`` prints."""

    rows: list[ScorerRow]
    n_normal: int
    n_test: int
    out: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def parse_scorers(text: str) -> list[str]:
    """``motion,aedmae,framepred`` -> names, checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n != DEFAULT and n not in LEARNED]
    if not names or bad:
        raise ConfigError(f"--scorers {text!r}: choose from {DEFAULT}, {', '.join(LEARNED)} (comma-separated)")
    return names


def compare(
    camera_id: str,
    camera: CameraConfig,
    normal: Sequence[str],
    test: Sequence[str],
    gt: str | Path,
    scorers: Sequence[str],
    out: Path,
    *,
    settings: dict[str, dict[str, Any]] | None = None,
    models_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int, float], None] | None = None,
) -> CompareReport:
    """Fit, score and evaluate every scorer; profiles and score files are kept under ``out``.

    Args:
        camera_id, camera: the camera and its settings (sampling, detector).
        normal: normal training footage.
        test: footage to score; ``gt`` labels it (gt.json or a labels.json).
        scorers: names from :func:`parse_scorers`.
        out: folder for ``profiles/<scorer>/`` and ``scores/<scorer>[-per-video]/``.
        settings: per learned scorer, its config values (``steps``, ``size``, ...).
        models_dir: the model cache (detector weights).
        log: called with a line per finished step.
        progress: training progress (stage, step, total, loss).
    """
    from perception.scorer_training import fit_frame_scorer

    say = log or (lambda _: None)
    t0 = time.perf_counter()
    base = fit_profile(camera_id, list(normal), camera, FitOptions(models_dir=models_dir))
    base_fit_s = time.perf_counter() - t0
    say(f"fitted the default profile in {base_fit_s:.0f} s")
    scan_cam = camera.model_copy(update={"fps": base.fps, "window": base.window, "frame_width": base.frame_width})
    rows: list[ScorerRow] = []
    default_fps: float | None = None
    for name in scorers:
        fit_s = base_fit_s
        profile = base
        if name != DEFAULT:
            profile = copy.copy(base)
            t1 = time.perf_counter()
            fit_frame_scorer(profile, list(normal), scan_cam, name, dict((settings or {}).get(name, {})), progress=progress)
            fit_s = base_fit_s + time.perf_counter() - t1
            say(f"trained {name} in {time.perf_counter() - t1:.0f} s")
        profile.save(out / "profiles" / name)
        fps, scorer_fps = _score_all(profile, scan_cam, test, out / "scores" / name, models_dir)
        report = evaluate_files(gt, out / "scores" / name)
        per_video = evaluate_files(gt, out / "scores" / f"{name}-per-video")
        if name == DEFAULT:
            default_fps = round(fps, 1)
        rows.append(ScorerRow(
            scorer=name, micro_auc=_r(report.micro_auc), macro_auc=_r(report.macro_auc),
            micro_auc_per_video=_r(per_video.micro_auc), macro_auc_per_video=_r(per_video.macro_auc),
            pipeline_fps=round(fps, 1), scorer_fps=round(scorer_fps, 1) if scorer_fps else None,
            ratio_to_default=None, fit_s=round(fit_s, 1), training=list(profile.training) if name != DEFAULT else [],
        ))
        say(f"{name}: micro AUC {report.micro_auc:.4f} (per video {per_video.micro_auc:.4f}), {fps:.1f} frames/s")
    for row in rows:
        row.ratio_to_default = round(row.pipeline_fps / default_fps, 3) if default_fps else None
    return CompareReport(rows=rows, n_normal=len(normal), n_test=len(test), out=str(out))


def _r(x: float | None) -> float | None:
    return round(x, 4) if x is not None else None


def _score_all(profile: CameraProfile, camera: CameraConfig, test: Sequence[str], folder: Path,
               models_dir: str | Path | None) -> tuple[float, float | None]:
    """Score the test videos into ``folder`` and ``folder-per-video``; (pipeline fps, scorer-only fps)."""
    scanner = Scanner(profile, camera, models_dir=models_dir)
    frames, seconds, scorer_s = 0, 0.0, 0.0
    per_video = folder.parent / f"{folder.name}-per-video"
    for video in test:
        result = scanner.scan(str(video))
        frames += result.frames_read
        seconds += result.timings["total_s"]
        scorer_s += result.timings.get("frame_score_s", 0.0)
        stem = Path(video).stem if Path(video).suffix else Path(video).name
        for target, norm in ((folder, False), (per_video, True)):
            write_score_csv(target / f"{stem}.csv", result.windows, result.frame_times, frames=result.frame_scores,
                            types=result.frame_types,
                            per_video=norm)
    fps = frames / max(seconds, 1e-9)
    return fps, (frames / scorer_s if scorer_s > 0 else None)


def format_table(report: CompareReport) -> str:
    """The comparison as a Markdown table."""
    def f(x: float | None, nd: int = 3) -> str:
        return "-" if x is None else f"{x:.{nd}f}"

    lines = [
        "| scorer | micro AUC | macro AUC | micro AUC (per-video norm) | macro AUC (per-video norm) | pipeline fps "
        "| scorer fps | vs default |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report.rows:
        lines.append(f"| {r.scorer} | {f(r.micro_auc)} | {f(r.macro_auc)} | {f(r.micro_auc_per_video)} | "
                     f"{f(r.macro_auc_per_video)} | {r.pipeline_fps:.1f} | {f(r.scorer_fps, 1)} | "
                     f"{f(r.ratio_to_default, 2)}x |")
    return "\n".join(lines)
