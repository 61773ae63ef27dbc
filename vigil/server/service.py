"""What ``vigil serve`` serves: one data dir, its store, the agents and the background watches.

:class:`Service` holds no HTTP: :mod:`vigil.server` maps its methods to routes, and its errors
(:class:`~vigil.core.errors.VigilError`, ``LookupError``, ``PermissionError``, ``FileExistsError``)
to status codes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vigil.app.runtime import ModelOptions, Runtime
from vigil.core.errors import ConfigError, UnknownCameraError, VideoError, VigilError
from vigil.core.schemas import ANOMALY_TYPES
from vigil.core.store import DataDir

log = logging.getLogger(__name__)

#: how loud each alert type is on the dashboard (and in ``severity`` of the API's alerts)
SEVERITY: dict[str, str] = {
    "falling": "high", "fighting": "high", "intrusion": "high",
    "vehicle": "medium", "running": "medium", "abandoned_object": "medium",
    "loitering": "low", "unknown": "low",
}
#: the only files ``/api/files`` serves: keyframes and clips
MEDIA_SUFFIXES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".mp4": "video/mp4",
                  ".webm": "video/webm"}
#: seconds between looks at the store for new alerts (feed and MQTT)
POLL_S = 0.5
#: most timeline points sent for one video (longer ones are max-pooled: a peak is never lost)
MAX_POINTS = 2000


def video_id(camera_id: str, source: str) -> str:
    """The API's id of a scanned video (camera and source)."""
    return hashlib.sha1(f"{camera_id}|{source}".encode()).hexdigest()[:16]


def utc_text(value: str, name: str) -> str:
    """An ISO time as the store writes ``created_at`` (UTC, ``...T..:..:..SSSZ``); naive times are UTC."""
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{name} {value!r}: expected an ISO time like 2026-12-03T14:00:00Z") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass
class SourceJob:
    """One background watch started through the API."""

    job_id: str
    source: str
    camera_id: str
    max_seconds: float | None = None
    status: str = "starting"  # starting | watching | finished | stopped | failed
    error: str | None = None
    video_s: float = 0.0
    alerts: int = 0
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    ended_at: str | None = None
    stop: threading.Event = field(default_factory=threading.Event, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        return self.status in ("starting", "watching")

    def advance(self, status: str) -> None:
        """Move on to ``status`` (``watching``) unless the job has ended meanwhile."""
        with self._lock:
            if self.ended_at is None:
                self.status = status

    def end(self, status: str, error: str | None = None) -> bool:
        """End the job as ``status`` (finished | stopped | failed); the first end counts.

        A watch left behind because its source stopped answering is ended by the stop request;
        when its thread comes back later, its own end changes nothing.
        """
        with self._lock:
            if self.ended_at is not None:
                return False
            self.status, self.error = status, error
            self.ended_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            return True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.job_id, "source": self.source, "camera_id": self.camera_id, "status": self.status,
                "error": self.error, "video_s": round(self.video_s, 1), "alerts": self.alerts,
                "max_seconds": self.max_seconds, "started_at": self.started_at, "ended_at": self.ended_at}


class Service:
    """What the API serves: one data dir, its store, the agents and the background watches.

    Args:
        settings: the loaded :class:`~vigil.core.config.Settings`.
        models: the agents' backend (the command line's ``--llm``, ``--llm-gguf``, ``--tool-mode``);
            default: the rule policy unless the settings name an LLM endpoint.
        mqtt_url: publish alerts and camera status to this broker (``settings.mqtt`` if ``None``).
    """

    def __init__(self, settings: Any, models: ModelOptions | None = None, mqtt_url: str | None = None) -> None:
        self.settings = settings
        self.data = DataDir(settings.data_dir)
        self.data.check_writable()
        self.store = self.data.open_store()
        self.models = models or ModelOptions()
        self._agents: Runtime | None = None
        self._agents_lock = threading.Lock()
        self.stopping = threading.Event()  # set on shutdown: live feeds end so the server can stop
        self._jobs: dict[str, SourceJob] = {}
        self._jobs_lock = threading.Lock()
        self._profile_locks: dict[str, threading.Lock] = {}
        #: seconds a stop request waits for its watch to end before leaving it behind
        self.stop_wait_s = 10.0
        #: seconds a watch may take to identify its source (read a file's first MiB)
        self.identify_timeout_s = 60.0
        self.mqtt: Any = None
        self.publisher: Any = None
        url = mqtt_url or getattr(settings, "mqtt", None)
        if url:
            from vigil.app.delivery.mqtt import AlertPublisher, MqttPublisher

            self.mqtt = MqttPublisher(url)
            self.publisher = AlertPublisher(self.store, self.mqtt, poll_s=POLL_S)
            for camera in self.camera_names():
                self._publish_status(camera)

    # ------------------------------------------------------------------ shared parts
    @property
    def agents(self) -> Runtime:
        """The backends, pattern memory and checkpointed graph (the app's :class:`Runtime`, as the
        command line builds it), built on first use."""
        with self._agents_lock:
            if self._agents is None:
                self._agents = Runtime(self.models, self.settings, self.data)
                for w in self._agents.take_warnings():
                    log.warning("%s", w)
            return self._agents

    def camera_names(self) -> list[str]:
        """Every camera the data dir or the settings know."""
        stored = {v["camera_id"] for v in self.store.videos()}
        return sorted(set(self.settings.cameras) | set(self.data.fitted_cameras()) | stored)

    def close(self) -> None:
        """Stop the watches (their progress is kept), the MQTT publisher, the store."""
        self.stopping.set()
        jobs = self.jobs()
        for job in jobs:
            job.stop.set()
        deadline = time.monotonic() + 30  # for all of them: a watch stuck on its source is left behind
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.publisher is not None:
            self.publisher.close()
        if self._agents is not None:
            self._agents.close()
        self.store.close()

    # ------------------------------------------------------------------ views
    def file_url(self, path: str | None) -> str | None:
        """The ``/api/files/...`` URL of a file inside the data dir (``None`` outside it)."""
        if not path:
            return None
        try:
            rel = Path(path).resolve().relative_to(self.data.root.resolve())
        except (ValueError, OSError):
            return None
        return "/api/files/" + quote(rel.as_posix())

    def alert_view(self, alert: dict[str, Any]) -> dict[str, Any]:
        """An alert as the API returns it: the stored alert plus links and display fields."""
        kind = alert.get("event_type", "unknown")
        clip = self._clip(alert)
        return {**alert, "id": alert["alert_id"], "video_id": video_id(alert["camera_id"], alert.get("source", "")),
                "type_name": ANOMALY_TYPES.get(kind, "Unknown anomaly"), "severity": SEVERITY.get(kind, "low"),
                "keyframe_urls": [u for u in (self.file_url(k) for k in alert.get("keyframes") or []) if u],
                "clip_url": clip[0], "clip_start_s": clip[1]}

    def _clip(self, alert: dict[str, Any]) -> tuple[str | None, float | None]:
        path = alert.get("clip")
        if not path or not Path(path).is_file():
            return None, None
        start = None
        for c in self.store.clips(alert.get("event_id", "")):
            if Path(c.storage_uri).resolve() == Path(path).resolve():
                start = c.clip_start
        if start is None:  # written before clips were recorded: the watch's default padding
            from vigil.app.watch import clip_pad_s

            start = max(0.0, float(alert["start_s"]) - clip_pad_s())
        return self.file_url(path), round(start, 2)

    def cameras(self) -> list[dict[str, Any]]:
        """Each camera with its status: configured, fitted, watching or idle, alerts so far."""
        fitted = set(self.data.fitted_cameras())
        counts = self.store.alert_counts()
        jobs = self.jobs()
        out = []
        for name in self.camera_names():
            running = [j for j in jobs if j.camera_id == name and j.running]
            cam = self.settings.camera(name)
            n, last = counts.get(name, (0, None))
            out.append({"camera_id": name, "configured": name in self.settings.cameras, "fitted": name in fitted,
                        "state": "watching" if running else ("idle" if name in fitted else "not fitted"),
                        "sources": [j.source for j in running], "alerts": n, "last_alert_at": last,
                        "zones": [{"name": z.name, "kind": z.kind} for z in cam.zones]})
        return out

    def videos(self) -> list[dict[str, Any]]:
        """Scanned videos, with the API's ids."""
        counts = self.store.alert_counts(by_source=True)
        return [{"id": video_id(v["camera_id"], v["source"]), "camera_id": v["camera_id"], "source": v["source"],
                 "name": Path(v["source"]).name or v["source"], "duration_s": v["duration_s"],
                 "scanned_until": v["scanned_until"], "complete": bool(v["complete"]), "start_time": v["start_time"],
                 "alerts": counts.get((v["camera_id"], v["source"]), (0, None))[0], "updated_at": v["updated_at"]}
                for v in self.store.videos()]

    def video(self, vid: str) -> dict[str, Any]:
        for v in self.videos():
            if v["id"] == vid:
                return v
        raise LookupError(f"no video {vid!r}; GET /api/videos lists them")

    def scores(self, vid: str) -> dict[str, Any]:
        """The timeline of one video: window scores, the camera's threshold, events, alerts."""
        v = self.video(vid)
        windows = self.store.windows(v["camera_id"], v["source"])
        points = [[round(w.ts_start, 2), round(w.ts_end, 2), round(w.anomaly_score, 4)] for w in windows]
        if len(points) > MAX_POINTS:
            step = -(-len(points) // MAX_POINTS)
            points = [[chunk[0][0], chunk[-1][1], max(p[2] for p in chunk)]
                      for chunk in (points[i:i + step] for i in range(0, len(points), step))]
        events = [{"event_id": e.event_id, "start_s": round(e.event_start, 2), "end_s": round(e.event_end, 2),
                   "peak_score": round(e.peak_score, 4), "event_type": e.event_type, "status": e.status}
                  for e in self.store.events(v["camera_id"], v["source"])]
        alerts = [self.alert_view(a) for a in self.store.find_alerts(cameras=[v["camera_id"]], sources=[v["source"]])]
        return {"video": v, "threshold": self.settings.camera(v["camera_id"]).threshold, "windows": points,
                "events": events, "alerts": alerts}

    def event(self, event_id: str) -> dict[str, Any]:
        e = self.store.event(event_id)
        if e is None:
            raise LookupError(f"no event {event_id!r}")
        return {"event_id": e.event_id, "camera_id": e.camera_id, "source": e.source, "video_id": video_id(e.camera_id, e.source),
                "start_s": e.event_start, "end_s": e.event_end, "peak_score": e.peak_score, "event_type": e.event_type,
                "confidence": e.confidence, "status": e.status, "explanation": e.explanation,
                "alerts": [self.alert_view(a) for a in self.store.alerts_of_event(event_id)],
                "clips": [{"start_s": c.clip_start, "end_s": c.clip_end, "url": self.file_url(c.storage_uri)}
                          for c in self.store.clips(event_id)]}

    def media_file(self, path: str) -> Path:
        """The file behind ``/api/files/<path>``: a keyframe or clip inside the data dir.

        Raises:
            PermissionError: the path leaves the data dir or is not a keyframe or clip.
            FileNotFoundError: no such file.
        """
        parts = path.split("/")
        if not path or "\x00" in path or "\\" in path or path.startswith("/") or ":" in parts[0] \
                or any(p in ("", ".", "..") for p in parts):
            raise PermissionError("the path must name a file inside the data dir, without '..'")
        root = self.data.root.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):  # a symlink pointing out
            raise PermissionError("the path leaves the data dir")
        if target.suffix.lower() not in MEDIA_SUFFIXES:
            raise PermissionError("only keyframes and clips are served")
        if not target.is_file():
            raise FileNotFoundError(path)
        return target

    # ------------------------------------------------------------------ questions
    def ask(self, question: str, *, video: str | None = None, camera: str | None = None, all_cameras: bool = False,
            since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """Answer a question as ``vigil ask --json`` does."""
        from vigil.app.ask import Asker, AskRequest, AskResult, check_request, resolve_scope

        if not question.strip():
            raise ConfigError("the question is empty")
        check_request(AskRequest(question, video=video, camera=camera, all_cameras=all_cameras, since=since,
                                 until=until))
        scope = resolve_scope(self.store, self.data, video=video, camera=camera, all_cameras=all_cameras)
        asker = Asker(self.settings, self.data, self.store, runtime=self.agents, since=since, until=until)
        answer, state = asker.graph(scope).ask(question)
        out = AskResult(answer, state).to_dict()
        for c in out.get("citations") or []:
            c["video_id"] = video_id(c.get("camera_id", ""), c.get("video", ""))
            c["keyframe_url"] = self.file_url(c.get("keyframe"))
        return out

    # ------------------------------------------------------------------ background watches
    def jobs(self) -> list[SourceJob]:
        with self._jobs_lock:
            return list(self._jobs.values())

    def job(self, job_id: str) -> SourceJob:
        with self._jobs_lock:
            if job_id not in self._jobs:
                raise LookupError(f"no source {job_id!r}; GET /api/sources lists them")
            return self._jobs[job_id]

    def start_source(self, source: str, camera_id: str, max_seconds: float | None = None) -> SourceJob:
        """Start watching ``source`` with ``camera_id``'s profile in a background thread.

        Only the file system's metadata is looked at here; the source is opened and read by the
        background job, so the request answers at once whatever the source does.

        Raises:
            UnknownCameraError: the camera has no fitted profile.
            VideoError: a local source that does not exist, or is a pipe, device or socket.
            FileExistsError: this source is already being watched for this camera.
        """
        from vigil.app.watch import check_local_source, source_key
        from vigil.core.config import validate_camera_name

        validate_camera_name(camera_id)
        if camera_id not in self.data.fitted_cameras():
            raise UnknownCameraError(f"camera {camera_id!r} has no fitted profile; run: vigil fit --camera {camera_id} "
                                     "--normal VIDEO ...")
        if max_seconds is not None and not 0 < max_seconds < float("inf"):
            raise ConfigError(f"max_seconds {max_seconds}: must be a positive number")
        # stat only: a FIFO would block whoever opened it
        check_local_source(source, missing="no such file or folder on the server")
        key = source_key(source)
        job_id = hashlib.sha1(f"{camera_id}|{key}".encode()).hexdigest()[:12]
        with self._jobs_lock:
            old = self._jobs.get(job_id)
            if old is not None and old.running:
                raise FileExistsError(f"{source} is already being watched for camera {camera_id!r} (source {job_id})")
            job = SourceJob(job_id, key, camera_id, max_seconds)
            self._jobs[job_id] = job
            job.thread = threading.Thread(target=self._watch, args=(job,), name=f"vigil-watch-{job_id}", daemon=True)
            job.thread.start()
        return job

    def stop_source(self, job_id: str, wait_s: float | None = None) -> SourceJob:
        """Stop a background watch (what it stored so far stays).

        Waits up to ``wait_s`` (default :attr:`stop_wait_s`) for the watch to end. One that has
        not by then (its source does not answer) is ended as ``stopped`` all the same: it no
        longer counts as watching and its thread is left behind.
        """
        job = self.job(job_id)
        job.stop.set()
        if job.thread is not None:
            job.thread.join(timeout=self.stop_wait_s if wait_s is None else wait_s)
            if job.thread.is_alive() and job.end(
                    "stopped", "stopped; its source did not answer, so the reader was left behind"):
                log.warning("watch %s of %s did not end when stopped; left behind", job.job_id, job.source)
                self._publish_status(job.camera_id)
        return job

    def _identify(self, job: SourceJob) -> None:
        """Identify the job's source (reading a file's first MiB) in a helper thread, so that
        a source that blocks fails the job after :attr:`identify_timeout_s` and a stop request
        ends the wait at once.

        Returns:
            The source's :class:`~perception.source.video.VideoRef` (``None`` when stopped first): the
            watch goes on with it, so the source is read for its identity once.

        Raises:
            VideoError: the source did not answer in time.
        """
        from vigil.app.watch import identify

        got: list[Any] = []

        def read() -> None:
            try:
                got.append(identify(job.source))
            except Exception as exc:  # noqa: BLE001 - handed over to the job
                got.append(exc)

        reader = threading.Thread(target=read, name=f"vigil-identify-{job.job_id}", daemon=True)
        reader.start()
        deadline = time.monotonic() + self.identify_timeout_s
        while reader.is_alive() and not job.stop.is_set():
            if time.monotonic() > deadline:
                raise VideoError(f"{job.source}: no answer within {self.identify_timeout_s:g} s of starting to read it")
            reader.join(timeout=0.1)
        if got and isinstance(got[0], Exception):
            raise got[0]
        return got[0] if got else None

    def _watch(self, job: SourceJob) -> None:
        from vigil.app.watch import is_ref

        watcher = None
        outcome: tuple[str, str | None] = ("failed", "internal error: the watch ended without a result")
        try:
            ref = self._identify(job)
            if job.stop.is_set():
                outcome = ("stopped", None)
                return
            agents = self.agents

            def on_alert(alert: Any) -> None:
                job.alerts += 1

            def progress(t: float) -> None:
                job.video_s = t

            watcher = agents.watcher(job.camera_id, self.store, on_alert=on_alert)
            job.advance("watching")
            self._publish_status(job.camera_id)
            watcher.watch(ref if is_ref(ref) else job.source, max_seconds=job.max_seconds, progress=progress, stop=job.stop)
            outcome = ("stopped" if job.stop.is_set() else "finished", None)
        except VigilError as exc:
            outcome = ("failed", str(exc))
            log.warning("watching %s for camera %s failed: %s", job.source, job.camera_id, exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one watch must not take the server down
            outcome = ("failed", f"internal error: {type(exc).__name__}: {exc}")
            log.exception("watching %s for camera %s failed", job.source, job.camera_id)
        finally:
            if watcher is not None:
                with self._profile_locks.setdefault(job.camera_id, threading.Lock()):
                    try:
                        watcher.save_memory()  # what the watch learned, kept even when stopped
                    except (OSError, VigilError) as exc:
                        log.warning("camera %s: could not save what the watch learned: %s", job.camera_id, exc)
            job.end(*outcome)
            self._publish_status(job.camera_id)

    def _publish_status(self, camera_id: str) -> None:
        if self.mqtt is None:
            return
        running = [j.source for j in self.jobs() if j.camera_id == camera_id and j.running]
        n, last = self.store.alert_counts().get(camera_id, (0, None))
        self.mqtt.publish_status(camera_id, {"state": "watching" if running else "idle", "sources": running,
                                             "alerts": n, "last_alert_at": last})
