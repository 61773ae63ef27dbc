"""Instruction data (``vigil data build``): from HIVAU-style annotations, or from footage, which a
fitted camera indexes first and the VLM (or scene facts) and the LLM (or templates) annotate.

Nothing here prints: warnings go to ``warn`` and the summary comes back in a :class:`BuildResult`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.app.ask import Asker
from vigil.app.progress import CountTask, VideoProgress, count_task, no_video_progress
from vigil.app.runtime import ModelOptions, Overrides, load_profile, scan_camera
from vigil.core.errors import ConfigError, DataError
from vigil.core.files import write_json_atomic


def _ignore(_: str) -> None:
    return None


@dataclass
class BuildRequest:
    """What ``vigil data build`` builds (its options, by name)."""

    out: str
    annotations: str | None = None
    from_footage: Sequence[str] | None = None
    videos: str | None = None
    seed: int = 0
    dataset: str | None = None
    split: str | None = None
    camera: str | None = None
    clip_seconds: float = 4.0
    format: str = "hivau"
    models: ModelOptions = field(default_factory=ModelOptions)


@dataclass
class BuildResult:
    """What was built: ``fgclip`` (``path`` is fgclip.json, ``root`` its videos folder) or ``hivau``."""

    format: str
    summary: dict[str, Any]
    out: Path
    path: Path | None = None
    root: Path | None = None
    test_rows: int = 0
    train_rows: int = 0


@dataclass
class BuildProgress:
    """The progress tasks of a build: videos indexed, videos annotated, media files cut."""

    indexing: VideoProgress = no_video_progress
    annotating: CountTask | None = None
    cutting: CountTask | None = None


def build(request: BuildRequest, overrides: Overrides, *, warn: Callable[[str], None] = _ignore,
          progress: BuildProgress | None = None) -> BuildResult:
    """Build instruction data (or, with ``format="fgclip"``, FG-CLIP annotations) into ``request.out``."""
    from data_engine.hivau import (
        PromptPools,
        build_items,
        dump_annotations,
        infer_dataset,
        load_annotations,
        stats,
        train_rows,
        write_jsonl,
    )

    progress = progress or BuildProgress()
    out = Path(request.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a folder")
    extra: dict[str, Any] = {}
    if request.format != "hivau" and not request.from_footage:
        raise ConfigError("--format fgclip is for --from-footage (an annotation file is already in its format)")
    if request.from_footage:
        annotations_path = out / "annotations.json"
        videos, extra = annotate_footage(request, overrides, warn=warn, progress=progress)
        if request.format == "fgclip":
            return _write_fgclip(request, out, videos, extra)
        dataset, split = request.dataset or "vigil", request.split or "test"
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(annotations_path, dump_annotations(videos))
        videos = load_annotations(annotations_path)  # what a person edits is what gets built
        sources: Any = {Path(v).stem: Path(v) for v in request.from_footage}
    else:
        if request.camera:
            raise ConfigError("--camera is for --from-footage")
        videos = load_annotations(request.annotations)
        inferred = infer_dataset(request.annotations)
        dataset, split = request.dataset or inferred[0], request.split or inferred[1]
        sources = Path(request.videos) if request.videos else None
        if sources is not None and not sources.is_dir():
            raise DataError(f"--videos {sources}: folder not found")
    items = build_items(videos, dataset, split, PromptPools(seed=request.seed))
    out.mkdir(parents=True, exist_ok=True)
    n_test = write_jsonl(out / "instructions_test.jsonl", (it.test_row(i) for i, it in enumerate(items)))
    n_train = write_jsonl(out / "instructions_train.jsonl", train_rows(items))
    summary = stats(videos, items)
    summary.update({"dataset": dataset, "split": split, "seed": request.seed, "test_rows": n_test,
                    "train_rows": n_train, **extra})
    if sources is not None:
        summary["media"] = _cut_media(items, sources, out, warn, progress.cutting)
    (out / "stats.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return BuildResult("hivau", summary, out, test_rows=n_test, train_rows=n_train)


def _write_fgclip(request: BuildRequest, out: Path, videos: Any, extra: dict[str, Any]) -> BuildResult:
    """``--format fgclip``: the footage's annotations as ``fgclip.json``, for review and ``vigil train fgclip``."""
    from data_engine.footage import fgclip_entries, videos_root

    root = videos_root(request.from_footage)  # entries name their videos relative to it
    entries = fgclip_entries(videos, extra.pop("footage"), extra.pop("quiet"), extra.pop("tracks"), root=root)
    out.mkdir(parents=True, exist_ok=True)
    path = write_json_atomic(out / "fgclip.json", entries)
    summary = {"fgclip": str(path), "videos_dir": str(root), "videos": len(entries),
               "normal": sum(not e["region_captions"] for e in entries),
               "regions": sum(len(e["region_captions"]) for e in entries), **extra}
    return BuildResult("fgclip", summary, out, path=path, root=Path(root))


def _cut_media(items: list[Any], sources: Any, out: Path, warn: Callable[[str], None],
               cutting: CountTask | None) -> dict[str, Any]:
    from data_engine.media import cut_media

    segments = list({it.video: (it.source, it.level, it.span, it.video) for it in items}.values())
    with count_task(cutting, len(segments)) as tick:
        report = cut_media(segments, sources, out, progress=tick)
    for name in report.missing_sources[:5]:
        warn(f"no source video for {name}")
    if len(report.missing_sources) > 5:
        warn(f"... and {len(report.missing_sources) - 5} more source videos missing")
    return {"written": report.written, "skipped": report.skipped, "missing_sources": report.missing_sources,
            "failed": report.failed}


def annotate_footage(request: BuildRequest, overrides: Overrides, *, warn: Callable[[str], None] = _ignore,
                     progress: BuildProgress | None = None) -> tuple[Any, dict[str, Any]]:
    """Raw annotations of ``request.from_footage``: index the videos with the camera, then caption
    and summarise them."""
    from data_engine.footage import (
        FootageEvent,
        FootageVideo,
        annotate,
        caption_from_facts,
        quiet_stretch,
        vlm_captioner,
    )
    from perception.pipeline import open_camera_video
    from perception.source.video import open_video
    from perception.track.scene import scene_facts
    from vigil.core.store import DataDir

    progress = progress or BuildProgress()
    camera_id = request.camera
    if not camera_id:
        raise ConfigError("--from-footage needs --camera NAME (a fitted camera: its profile and rules find the events)")
    paths = list(request.from_footage or ())
    for v in paths:
        if not Path(v).is_file():
            raise DataError(f"{v}: video not found")
    names = [Path(v).stem for v in paths]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"two videos share the name {dupes[0]!r}; names key the annotations")
    settings = overrides.settings()
    data = DataDir(settings.data_dir)
    profile = load_profile(data, camera_id)
    cam = scan_camera(profile, settings.camera(camera_id))
    encoder = profile.build_scene_encoder()
    caption_counts = {"scene facts": 0}

    def facts_caption(video: Any, t0: float, t1: float) -> str:
        caption_counts["scene facts"] = caption_counts.get("scene facts", 0) + 1
        with open_camera_video(video.path, cam) as src:
            frames = list(src.frames(t0, t1))
        if encoder is None or not frames:
            return "The clip shows the scene; nothing could be tracked in it."
        return caption_from_facts(scene_facts(frames, encoder, cam.zones, fps=cam.fps), {z.name: z.kind for z in cam.zones})

    with data.open_store() as store:
        asker = Asker(settings, data, store, models=request.models, progress=progress.indexing)
        try:
            for w in asker.runtime.take_warnings():
                warn(w)
            quiet: dict[str, tuple[float, float]] = {}
            tracks: dict[str, list[dict[str, Any]]] = {}
            for v in paths:
                if not asker.indexed(v, camera_id):
                    asker.scan(v, camera_id)
            footage = []
            for v in paths:
                with open_video(v, fps=1.0, width=16) as info_src:
                    info = info_src.info
                fps = info.fps or cam.fps
                n_frames = info.n_frames or int(round((info.duration_s or 0) * fps))
                sources = [r["source"] for r in store.videos(camera_id) if _same_file(r["source"], v)]
                alerts = store.find_alerts(cameras=[camera_id], sources=sources)
                events = [FootageEvent(a["start_s"], a["end_s"], a["event_type"], a["explanation"]["what"],
                                       a["explanation"]["why"],
                                       tuple(a["region"][k] for k in ("x1", "y1", "x2", "y2")) if a.get("region") else None)
                          for a in alerts]
                footage.append(FootageVideo(Path(v).stem, v, fps, max(1, n_frames), events))
                if request.format != "fgclip":
                    continue
                tracks[Path(v).stem] = store.find_tracks(cameras=[camera_id], sources=sources) if sources else []
                if not events:  # a normal video's quietest stretch (FG-CLIP's normal segment)
                    windows = [(w.ts_start, w.ts_end, w.anomaly_score) for src in sources
                               for w in store.windows(camera_id, src)]
                    quiet[Path(v).stem] = quiet_stretch(windows, footage[-1].duration_s)
            captioner = facts_caption
            if asker.runtime.vision is not None:
                def read(path: str, t0: float, t1: float) -> list[Any]:
                    with open_video(path, fps=4.0, width=448) as src:
                        return [f.image for f in src.frames(t0, t1)]

                captioner, caption_counts = vlm_captioner(asker.runtime.vision, read, facts_caption)
            with count_task(progress.annotating, len(footage)) as tick:
                videos, counts = annotate(footage, captioner, asker.runtime.backend, clip_s=request.clip_seconds,
                                          progress=lambda _name: tick(1))
        finally:
            asker.close()
    extra: dict[str, Any] = {"engine": {"camera": camera_id, "captions_by": {k: v for k, v in caption_counts.items() if v},
                                        "summaries_by": counts.summaries}}
    if request.format == "fgclip":
        extra.update(footage=footage, quiet=quiet, tracks=tracks)
    return videos, extra


def _same_file(a: str, b: str) -> bool:
    from agents.ask import same_source

    return same_source(a, b)


def format_stats(summary: dict[str, Any]) -> str:
    """A build's summary as the command line prints it."""
    from data_engine.hivau import format_stats as fmt

    return fmt(summary)
