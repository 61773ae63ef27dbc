"""Watching sources with a fitted camera: the service behind ``vigil watch`` (and the demo).

Each source is identified once (a :class:`~perception.source.video.VideoRef`) and that object goes on
to the watcher. Nothing here prints: alerts go to ``on_alert``, warnings to ``warn``, a source
that cannot be read to ``on_error``, and the results come back in a :class:`WatchRun`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.app.progress import VideoProgress, no_video_progress
from vigil.app.runtime import (
    ModelOptions,
    Overrides,
    Runtime,
    camera_and_data,
    iso_time,
    load_profile,
)
from vigil.core.errors import ConfigError, VideoError


@dataclass
class WatchRequest:
    """What to watch and how.

    Attributes:
        camera_id: a fitted camera.
        sources: video files, folders, stream URLs or webcam indexes, watched one after another.
        models: the agents' backend.
        webhook: POST each new alert here.
        webhook_backfill: also post the camera's stored alerts this webhook never received.
        max_seconds: stop each source after this much video.
        start_time: wall-clock time of a file's first frame (for schedules), ISO text.
    """

    camera_id: str
    sources: Sequence[str]
    models: ModelOptions = field(default_factory=ModelOptions)
    webhook: str | None = None
    webhook_backfill: bool = False
    max_seconds: float | None = None
    start_time: str | None = None


@dataclass
class WatchRun:
    """What a watch gives back."""

    results: list[Any]
    failed: list[str]            # sources that could not be read (``on_error`` was told of each)
    troubled: bool               # a model endpoint or the webhook was in trouble (exit 3)
    backend: Any

    @property
    def exit_code(self) -> int:
        return 2 if self.failed else (3 if self.troubled else 0)


def _ignore(_: str) -> None:
    return None


def run_watch(request: WatchRequest, settings: Any, camera: Any, data: Any, *,
              on_alert: Callable[[Any], None] | None = None, warn: Callable[[str], None] = _ignore,
              say: Callable[[str], None] = _ignore, on_error: Callable[[str], None] = _ignore,
              progress: VideoProgress = no_video_progress) -> WatchRun:
    """Watch ``request.sources`` one after another; a source that cannot be read goes to
    ``on_error`` and the others are still watched.

    Args:
        settings, camera, data: the loaded settings, the camera's section, the data dir.
        on_alert: called with every new alert.
        warn: called with each warning (start-up, endpoint or webhook trouble).
        say: called with what is worth telling (alerts re-delivered from an earlier run).
        on_error: called with the message of each source that could not be read.
        progress: a progress task per source (its name in, a callback of video seconds out).
    """
    from perception.source.video import identify_source
    from vigil.app.delivery.webhook import Webhook, check_webhook_url

    start_time = iso_time(request.start_time, "--start-time")
    if request.webhook:
        check_webhook_url(request.webhook)
    elif request.webhook_backfill:
        raise ConfigError("--webhook-backfill needs --webhook URL")
    profile = load_profile(data, request.camera_id)
    data.check_writable()
    runtime = Runtime(request.models, settings, data)
    for w in runtime.take_warnings():
        warn(w)
    webhook = Webhook(request.webhook) if request.webhook else None
    results, failed = [], []
    try:
        with data.open_store() as store:
            watcher = runtime.watcher(request.camera_id, store, profile=profile, camera=camera,
                                      start_time=start_time, on_alert=on_alert, webhook=webhook)
            resent = watcher.redeliver(backfill=request.webhook_backfill)
            if resent:
                say(f"delivered {resent} alert(s) queued for the webhook by an earlier run")
            try:
                for source in request.sources:
                    with progress(str(source)) as tick:
                        try:
                            # identified once here; the watcher keys the store with this object
                            results.append(watcher.watch(identify_source(str(source)), max_seconds=request.max_seconds,
                                                         progress=tick))
                        except VideoError as exc:  # this source is bad; the others are still watched
                            on_error(str(exc))
                            failed.append(str(source))
            finally:
                watcher.save_memory()  # what was learned so far is kept, even when interrupted
    finally:
        runtime.close()
        if webhook is not None:
            webhook.close()
    troubled, warnings = runtime.finish()
    for w in warnings:
        warn(w)
    if webhook is not None and (webhook.failures or webhook.refusals):
        troubled = True
        parts = []
        if webhook.failures:
            parts.append(f"{webhook.failures} alert(s) could not be delivered ({webhook.last_problem}); they stay queued "
                         "and are posted on the next run")
        if webhook.refusals:
            parts.append(f"{webhook.refusals} alert(s) were refused (4xx; not posted again)")
        warn(f"webhook {webhook.url}: {'; '.join(parts)}")
    return WatchRun(results, failed, troubled, runtime.backend)


def watch(request: WatchRequest, overrides: Overrides, **callbacks: Any) -> WatchRun:
    """``vigil watch``: load the settings, then :func:`run_watch` (same callbacks)."""
    settings = overrides.settings()
    camera, data = camera_and_data(settings, request.camera_id)
    return run_watch(request, settings, camera, data, **callbacks)


# ---------------------------------------------------------------- sources, for the server
def identify(source: str) -> Any:
    """The :class:`~perception.source.video.VideoRef` of ``source`` (reads a file's first MiB)."""
    from perception.source import video  # looked up when called: tests stand in a slow reader

    return video.identify_source(source)


def is_ref(obj: Any) -> bool:
    """Whether ``obj`` is an identified video (a :class:`~perception.source.video.VideoRef`)."""
    from perception.source.video import VideoRef

    return isinstance(obj, VideoRef)


def source_key(source: str) -> str:
    """The key the store gives ``source``, from its name alone (nothing is opened)."""
    from perception.source.video import source_key as key

    return key(source)


def check_local_source(source: str, missing: str = "video not found") -> None:
    """Refuse a local source that is neither a regular file nor a folder (``stat`` only)."""
    from perception.source.video import check_local_source as check

    check(source, missing=missing)


def clip_pad_s() -> float:
    """Seconds of video a watch's clips start before their event (the default)."""
    from agents.watch import WatchOptions

    return WatchOptions().clip_pad_s
