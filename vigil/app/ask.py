"""Questions about footage: the service behind ``vigil ask``, ``POST /api/ask``, the ask bench
and the footage annotator.

:class:`Asker` holds what answering needs (store, memory, models, the scanner for videos not
indexed yet); :func:`answer` is one question end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.app.progress import VideoProgress, no_video_progress
from vigil.app.runtime import ModelOptions, Overrides, Runtime, iso_time, load_profile, scan_camera
from vigil.core.errors import ConfigError


@dataclass
class AskRequest:
    """One question and where to look.

    Attributes:
        question: the question in plain English.
        video, camera, all_cameras: the scope (a video, a camera's footage, every camera).
        since, until: only from / until these times (seconds of video or times of day).
        start_time: wall-clock time of ``video``'s first frame, when it is scanned (ISO text).
        models: the agents' backend.
    """

    question: str
    video: str | None = None
    camera: str | None = None
    all_cameras: bool = False
    since: str | None = None
    until: str | None = None
    start_time: str | None = None
    models: ModelOptions = field(default_factory=ModelOptions)


def bounds(since: str | None, until: str | None) -> dict[str, Any]:
    """``since`` / ``until`` as question-plan fields (a bad one fails before anything is opened)."""
    from agents.ask import parse_bound

    out: dict[str, Any] = {}
    for flag, value in (("--since", since), ("--until", until)):
        if value:
            out.update(parse_bound(value, flag))
    for lo, hi in (("time_from", "time_to"), ("clock_from", "clock_to")):
        if out.get(lo) is not None and out.get(hi) is not None and out[lo] > out[hi]:
            raise ConfigError(f"--since {since} is after --until {until}; nothing can lie between them"
                              + (" (a range across midnight: ask twice)" if lo == "clock_from" else ""))
    return out


def check_request(request: AskRequest) -> None:
    """The checks made before anything is opened: an empty question, the scope flags, the bounds."""
    from agents.ask import check_scope_flags

    check_scope_flags(video=request.video, camera=request.camera, all_cameras=request.all_cameras)
    bounds(request.since, request.until)


def resolve_scope(store: Any, data: Any, *, video: str | None = None, camera: str | None = None,
                  all_cameras: bool = False) -> Any:
    """The :class:`~agents.ask.AskScope` of a question."""
    from agents.ask import resolve_scope as resolve

    return resolve(store, video=video, camera=camera, all_cameras=all_cameras, fitted=data.fitted_cameras())


class Asker:
    """Everything a question needs: store, memory, models, the scanner for videos not indexed yet.

    Args:
        settings, data, store: the loaded settings, the data dir and its open store.
        models: the agents' backend (ignored when ``runtime`` is given).
        runtime: an already built :class:`Runtime` to share (``vigil serve``); it is then not
            closed here.
        since, until: the question's time bounds.
        progress: a progress task per video indexed.
    """

    def __init__(self, settings: Any, data: Any, store: Any, *, models: ModelOptions | None = None,
                 runtime: Runtime | None = None, since: str | None = None, until: str | None = None,
                 progress: VideoProgress = no_video_progress) -> None:
        self.settings, self.data, self.store = settings, data, store
        self._owns_runtime = runtime is None
        self.runtime = runtime if runtime is not None else Runtime(models or ModelOptions(), settings, data)
        self.embedder = self.runtime.embedder
        self.since, self.until = since, until
        self.progress = progress

    def scan(self, video: Any, camera_id: str, start_time: datetime | None = None) -> None:
        """Index ``video`` (a path or :class:`~perception.source.video.VideoRef`) with ``camera_id``'s
        profile (alerts, windows, event texts)."""
        from perception.source.video import identify_source

        watcher = self.runtime.watcher(camera_id, self.store, start_time=start_time)
        ref = identify_source(video)
        with self.progress(str(video)) as tick:
            watcher.watch(ref, progress=tick)
        watcher.save_memory()

    def indexed(self, video: str, camera_id: str) -> bool:
        """Whether ``video`` is already indexed for ``camera_id``."""
        from agents.ask import AskContext, AskScope

        return AskContext(self.store, AskScope()).indexed(video, camera_id)

    def read_frames(self, video: str, camera_id: str, t0: float, t1: float) -> list[Any]:
        """The frames of ``video`` between ``t0`` and ``t1`` as ``camera_id``'s profile samples them."""
        from perception.pipeline import open_camera_video

        cam = scan_camera(load_profile(self.data, camera_id), self.settings.camera(camera_id))
        with open_camera_video(video, cam) as source:
            return list(source.frames(t0, t1))

    def graph(self, scope: Any, start_time: datetime | None = None) -> Any:
        """The ask graph over ``scope`` (videos not indexed yet are scanned when asked about)."""
        from agents.ask import AskContext, AskGraph

        ctx = AskContext(self.store, scope, memory=self.runtime.memory,
                         scanner=lambda v, c: self.scan(v, c, start_time), frame_reader=self.read_frames,
                         vision=self.runtime.vision, embedder=self.embedder, keyframe_dir=self.data.ask_keyframes_dir)
        known = sorted({r["camera_id"] for r in self.store.videos()} | set(self.data.fitted_cameras()))
        zones = sorted({z.name for c in known for z in self.settings.camera(c).zones})
        return AskGraph(ctx, backend=self.runtime.backend, cameras=known, plan_overrides=bounds(self.since, self.until),
                        zones=zones)

    def close(self) -> None:
        if self._owns_runtime:
            self.runtime.close()


@dataclass
class AskResult:
    """An answer, who gave it, and the run's trouble."""

    answer: Any
    state: dict[str, Any]
    troubled: bool = False
    warnings: list[str] = field(default_factory=list)

    def by(self) -> Any:
        """Which role answered (a model or the rules), as ``--json`` prints it."""
        from agents.ask import roles

        return roles(self.state)

    def to_dict(self) -> dict[str, Any]:
        """The answer as ``vigil ask --json`` prints it."""
        return {**self.answer.model_dump(mode="json"), "by": self.by()}


def answer(request: AskRequest, overrides: Overrides, *, warn: Callable[[str], None] | None = None,
           progress: VideoProgress = no_video_progress) -> AskResult:
    """Answer one question as ``vigil ask`` does; ``warn`` gets the start-up warnings."""
    from vigil.core.store import DataDir

    if not request.question.strip():
        raise ConfigError('the question is empty; ask e.g. vigil ask "When did someone fall?" --camera lobby')
    settings = overrides.settings()
    data = DataDir(settings.data_dir)
    start_time = iso_time(request.start_time, "--start-time")
    check_request(request)  # before anything is opened
    with data.open_store() as store:
        scope = resolve_scope(store, data, video=request.video, camera=request.camera, all_cameras=request.all_cameras)
        asker = Asker(settings, data, store, models=request.models, since=request.since, until=request.until,
                      progress=progress)
        try:
            for w in asker.runtime.take_warnings():
                if warn is not None:
                    warn(w)
            result, state = asker.graph(scope, start_time).ask(request.question)
        finally:
            asker.close()
    troubled, warnings = asker.runtime.finish("the rule policy answered instead")
    return AskResult(result, state, troubled, warnings)
