"""``vigil serve``: the HTTP API, the live alert feed and the web dashboard over one data dir.

==========================  =================================================================
``GET  /health``            liveness, no key needed
``GET  /api/cameras``       configured and fitted cameras, their status and alert counts
``GET  /api/alerts``        stored alerts, newest first; filters ``camera``, ``type``, ``source``,
                            ``since`` / ``until`` (ISO times the alerts were raised); ``limit``,
                            ``offset`` paging
``GET  /api/alerts/stream`` server-sent events: each new alert as an ``alert`` event whose id is
                            its place in the store (``Last-Event-ID`` or ``?after=`` resumes)
``GET  /api/alerts/{id}``   one alert
``GET  /api/events/{id}``   one event (detector span, verdict, explanation), its alerts and clips
``GET  /api/videos``        scanned videos with their ids
``GET  /api/videos/{id}/scores``  the video's window scores, events and alerts (the timeline)
``POST /api/ask``           a question; the same JSON as ``vigil ask --json``
``GET  /api/sources``       background watches; ``POST`` starts one (``{"source", "camera"}``),
                            ``DELETE /api/sources/{id}`` stops it
``GET  /api/files/{path}``  keyframes and clips, only from inside the data dir
``GET  /``                  the dashboard (no build step, no external network)
==========================  =================================================================

With ``VIGIL_API_KEY`` set, every ``/api/`` route needs ``Authorization: Bearer <key>`` (401
otherwise). The dashboard asks for the key and keeps it in the browser tab's session storage.

One :class:`~vigil.store.Store` (SQLite in WAL mode, one connection behind a lock) serves the
API and the background watchers, which run in threads of this process and share the agents
(backends, pattern memory, checkpointed graph). Alerts written by ``vigil watch`` runs in other
processes show up too: the feed and the MQTT publisher read the store, not the watchers.

Nothing the dashboard shows is assembled as HTML from stored text: the page builds its elements
with the DOM API and sets text with ``textContent``, and every response carries a
Content-Security-Policy that allows no inline script, so an explanation that holds markup shows
as text.
"""

# no ``from __future__ import annotations``: FastAPI reads the route functions' annotations, and
# the classes they name are imported inside create_app (FastAPI is an optional extra)
import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from vigil.errors import (
    ConfigError,
    DataError,
    StoreError,
    UnknownCameraError,
    VideoError,
    VigilError,
)
from vigil.imports import require
from vigil.schemas import ANOMALY_TYPES
from vigil.store import DataDir

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
#: how loud each alert type is on the dashboard (and in ``severity`` of the API's alerts)
SEVERITY: dict[str, str] = {
    "falling": "high", "fighting": "high", "intrusion": "high",
    "vehicle": "medium", "running": "medium", "abandoned_object": "medium",
    "loitering": "low", "unknown": "low",
}
#: the only files ``/api/files`` serves: keyframes and clips
MEDIA_SUFFIXES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".mp4": "video/mp4",
                  ".webm": "video/webm"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
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


class AskRequest(BaseModel):
    """``POST /api/ask``: the question and what it is about (as ``vigil ask``'s flags)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=1000, description="The question in plain English.")
    video: str | None = Field(None, description="Ask about this video (a path on the server).")
    camera: str | None = Field(None, description="Ask about this camera's footage.")
    all: bool = Field(False, description="Ask about every camera (the default without video/camera).")
    since: str | None = Field(None, description="Only from this time: seconds of video or a time of day.")
    until: str | None = Field(None, description="Only until this time.")


class SourceRequest(BaseModel):
    """``POST /api/sources``: what to watch, with which camera's profile."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, description="Video file or folder on the server, rtsp:// or http(s):// URL, webcam index.")
    camera: str = Field(min_length=1, description="A fitted camera.")
    max_seconds: float | None = Field(None, gt=0, description="Stop after this much video.")


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

    @property
    def running(self) -> bool:
        return self.status in ("starting", "watching")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.job_id, "source": self.source, "camera_id": self.camera_id, "status": self.status,
                "error": self.error, "video_s": round(self.video_s, 1), "alerts": self.alerts,
                "max_seconds": self.max_seconds, "started_at": self.started_at, "ended_at": self.ended_at}


class Service:
    """What the API serves: one data dir, its store, the agents and the background watches.

    Args:
        settings: the loaded :class:`~vigil.config.Settings`.
        agent_args: the command line's model flags (``llm``, ``llm_gguf``, ``tool_mode``); default:
            the rule policy unless the settings name an LLM endpoint.
        mqtt_url: publish alerts and camera status to this broker (``settings.mqtt`` if ``None``).
    """

    def __init__(self, settings: Any, agent_args: argparse.Namespace | None = None, mqtt_url: str | None = None) -> None:
        self.settings = settings
        self.data = DataDir(settings.data_dir)
        self.data.check_writable()
        self.store = self.data.open_store()
        self.agent_args = agent_args or argparse.Namespace(llm="auto", llm_gguf=None, tool_mode="auto")
        self._agents: Any = None
        self._agents_lock = threading.Lock()
        self.stopping = threading.Event()  # set on shutdown: live feeds end so the server can stop
        self._jobs: dict[str, SourceJob] = {}
        self._jobs_lock = threading.Lock()
        self._profile_locks: dict[str, threading.Lock] = {}
        self.mqtt: Any = None
        self.publisher: Any = None
        url = mqtt_url or getattr(settings, "mqtt", None)
        if url:
            from vigil.mqtt import AlertPublisher, MqttPublisher

            self.mqtt = MqttPublisher(url)
            self.publisher = AlertPublisher(self.store, self.mqtt, poll_s=POLL_S)
            for camera in self.camera_names():
                self._publish_status(camera)

    # ------------------------------------------------------------------ shared parts
    @property
    def agents(self) -> Any:
        """The backends, pattern memory and checkpointed graph, built on first use."""
        with self._agents_lock:
            if self._agents is None:
                from vigil.cli import (
                    _Agents,  # the command line's set-up, shared so both behave alike
                )

                self._agents = _Agents(self.agent_args, self.settings, self.data)
                for w in self._agents.warnings:
                    log.warning("%s", w)
                self._agents.warnings = []
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
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout=30)
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
            from agents.watch import WatchOptions

            start = max(0.0, float(alert["start_s"]) - WatchOptions().clip_pad_s)
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
        from agents.ask import check_scope_flags, resolve_scope, roles
        from vigil.cli import _Asker

        if not question.strip():
            raise ConfigError("the question is empty")
        args = argparse.Namespace(**vars(self.agent_args), since=since, until=until)
        check_scope_flags(video=video, camera=camera, all_cameras=all_cameras)
        _Asker.bounds(args)
        scope = resolve_scope(self.store, video=video, camera=camera, all_cameras=all_cameras,
                              fitted=self.data.fitted_cameras())
        asker = _Asker(args, self.settings, self.data, self.store, agents=self.agents)
        answer, state = asker.graph(scope).ask(question)
        out = {**answer.model_dump(mode="json"), "by": roles(state)}
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

        Raises:
            UnknownCameraError: the camera has no fitted profile.
            VideoError: a local source that does not exist.
            FileExistsError: this source is already being watched for this camera.
        """
        from perception.video import identify_source, source_kind
        from vigil.config import validate_camera_name

        validate_camera_name(camera_id)
        if camera_id not in self.data.fitted_cameras():
            raise UnknownCameraError(f"camera {camera_id!r} has no fitted profile; run: vigil fit --camera {camera_id} "
                                     "--normal VIDEO ...")
        if max_seconds is not None and not max_seconds > 0:
            raise ConfigError(f"max_seconds {max_seconds}: must be positive")
        kind = source_kind(source)
        if kind in ("file", "folder") and not Path(source).expanduser().exists():
            raise VideoError(f"{source}: no such file or folder on the server")
        key = identify_source(source).key
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

    def stop_source(self, job_id: str, wait_s: float = 10.0) -> SourceJob:
        """Stop a background watch (what it stored so far stays); waits up to ``wait_s`` for it."""
        job = self.job(job_id)
        job.stop.set()
        if job.thread is not None:
            job.thread.join(timeout=wait_s)
        return job

    def _watch(self, job: SourceJob) -> None:
        from agents.watch import Watcher
        from perception.profile import CameraProfile

        watcher = None
        try:
            agents = self.agents
            profile = CameraProfile.load(self.data.profile_dir(job.camera_id), job.camera_id)

            def on_alert(alert: Any) -> None:
                job.alerts += 1

            def progress(t: float) -> None:
                job.video_s = t

            watcher = Watcher(job.camera_id, self.settings.camera(job.camera_id), profile, self.data, self.store,
                              agents.graph, memory=agents.memory, vision=agents.vision, on_alert=on_alert,
                              text_embedder=agents.embedder, models_dir=self.settings.model_cache)
            job.status = "watching"
            self._publish_status(job.camera_id)
            watcher.watch(job.source, max_seconds=job.max_seconds, progress=progress, stop=job.stop)
            job.status = "stopped" if job.stop.is_set() else "finished"
        except VigilError as exc:
            job.status, job.error = "failed", str(exc)
            log.warning("watching %s for camera %s failed: %s", job.source, job.camera_id, exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one watch must not take the server down
            job.status, job.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            log.exception("watching %s for camera %s failed", job.source, job.camera_id)
        finally:
            if watcher is not None:
                with self._profile_locks.setdefault(job.camera_id, threading.Lock()):
                    try:
                        watcher.save_memory()  # what the watch learned, kept even when stopped
                    except (OSError, VigilError) as exc:
                        log.warning("camera %s: could not save what the watch learned: %s", job.camera_id, exc)
            job.ended_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self._publish_status(job.camera_id)

    def _publish_status(self, camera_id: str) -> None:
        if self.mqtt is None:
            return
        running = [j.source for j in self.jobs() if j.camera_id == camera_id and j.running]
        n, last = self.store.alert_counts().get(camera_id, (0, None))
        self.mqtt.publish_status(camera_id, {"state": "watching" if running else "idle", "sources": running,
                                             "alerts": n, "last_alert_at": last})


# --------------------------------------------------------------------------- the app
def create_app(service: Service, api_key: str | None = None) -> Any:
    """The FastAPI application over ``service``; ``api_key`` guards every ``/api/`` route."""
    fastapi = require("fastapi", "vigil serve", extra="serve")
    from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
    from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

    from vigil import __version__

    def check_key(authorization: str | None = Header(None)) -> None:
        if not api_key:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise HTTPException(401, "missing or wrong API key: send Authorization: Bearer <VIGIL_API_KEY>",
                                headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI(title="Vigil", version=__version__, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.service = service
    api = APIRouter(prefix="/api", dependencies=[Depends(check_key)])

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        if not request.url.path.startswith("/api/docs"):  # the interactive docs load their own scripts
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    status_of = {UnknownCameraError: 404, VideoError: 422, ConfigError: 422, DataError: 422, StoreError: 503}

    @app.exception_handler(VigilError)
    async def vigil_error(request: Request, exc: VigilError) -> Any:
        code = next((c for kind, c in status_of.items() if isinstance(exc, kind)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError) -> Any:
        return JSONResponse({"detail": str(exc.args[0]) if exc.args else "not found"}, status_code=404)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "schema_version": service.store.schema_version,
                "watching": sum(j.running for j in service.jobs()),
                "mqtt": None if service.mqtt is None else ("connected" if service.mqtt.connected else "disconnected")}

    @api.get("/cameras")
    def cameras() -> list[dict[str, Any]]:
        return service.cameras()

    @api.get("/alerts")
    def alerts(camera: str | None = None, type: str | None = None, source: str | None = None,  # noqa: A002
               since: str | None = None, until: str | None = None, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0)) -> dict[str, Any]:
        total, rows = service.store.page_alerts(
            camera=camera, event_type=type, source=source, since=utc_text(since, "since") if since else None,
            until=utc_text(until, "until") if until else None, limit=limit, offset=offset)
        return {"items": [service.alert_view(a) for a in rows], "total": total, "limit": limit, "offset": offset,
                "next_offset": offset + len(rows) if offset + len(rows) < total else None}

    @api.get("/alerts/stream")
    async def alert_stream(request: Request, after: int | None = Query(None, ge=0),
                           last_event_id: str | None = Header(None)) -> Any:
        if after is None and last_event_id and last_event_id.strip().isdigit():
            after = int(last_event_id.strip())
        cursor = after if after is not None else await asyncio.to_thread(service.store.last_alert_rowid)

        def views_after(row: int) -> list[tuple[int, dict[str, Any]]]:
            return [(rowid, service.alert_view(a)) for rowid, a in service.store.alerts_after(row)]

        async def events() -> Any:
            nonlocal cursor
            yield "retry: 2000\n\n"
            quiet = 0.0
            while not service.stopping.is_set() and not await request.is_disconnected():
                rows = await asyncio.to_thread(views_after, cursor)  # the store is not read on the event loop
                for rowid, view in rows:
                    cursor = rowid
                    yield f"id: {rowid}\nevent: alert\ndata: {json.dumps(view)}\n\n"
                if rows:
                    quiet = 0.0
                else:
                    quiet += POLL_S
                    if quiet >= 15.0:  # a comment keeps proxies from closing an idle stream
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                    await asyncio.sleep(POLL_S)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @api.get("/alerts/{alert_id}")
    def alert(alert_id: str) -> dict[str, Any]:
        found = service.store.alert(alert_id)
        if found is None:
            raise LookupError(f"no alert {alert_id!r}")
        return service.alert_view(found)

    @api.get("/events/{event_id}")
    def event(event_id: str) -> dict[str, Any]:
        return service.event(event_id)

    @api.get("/videos")
    def videos() -> list[dict[str, Any]]:
        return service.videos()

    @api.get("/videos/{vid}/scores")
    def scores(vid: str) -> dict[str, Any]:
        return service.scores(vid)

    @api.post("/ask")
    def ask(req: AskRequest) -> dict[str, Any]:
        return service.ask(req.question, video=req.video, camera=req.camera, all_cameras=req.all, since=req.since,
                           until=req.until)

    @api.get("/sources")
    def sources() -> list[dict[str, Any]]:
        return [j.to_dict() for j in service.jobs()]

    @api.post("/sources", status_code=201)
    def start_source(req: SourceRequest) -> dict[str, Any]:
        try:
            return service.start_source(req.source, req.camera, req.max_seconds).to_dict()
        except FileExistsError as exc:
            raise HTTPException(409, str(exc)) from None

    @api.get("/sources/{job_id}")
    def source(job_id: str) -> dict[str, Any]:
        return service.job(job_id).to_dict()

    @api.delete("/sources/{job_id}")
    def stop_source(job_id: str) -> dict[str, Any]:
        return service.stop_source(job_id).to_dict()

    @api.get("/files/{path:path}")
    def files(path: str) -> Any:
        try:
            target = service.media_file(path)
        except PermissionError as exc:
            raise HTTPException(403, str(exc)) from None
        except FileNotFoundError:
            raise HTTPException(404, f"no file {path!r}") from None
        return FileResponse(target, media_type=MEDIA_SUFFIXES[target.suffix.lower()])

    app.include_router(api)

    @app.get("/", include_in_schema=False)
    def dashboard() -> Any:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Any:
        kinds = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        target = WEB_DIR / name
        if "/" in name or name.startswith(".") or target.suffix not in kinds or not target.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(target, media_type=kinds[target.suffix])

    del fastapi
    return app


# --------------------------------------------------------------------------- running it
class BackgroundServer:
    """``create_app`` served by uvicorn in a thread (tests, the load benchmark)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        uvicorn = require("uvicorn", "vigil serve", extra="serve")
        import socket

        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = host, self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        service = getattr(self._server.config.app.state, "service", None)
        if service is not None:
            service.stopping.set()  # live feeds end, so the server stops at once
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def check_port(host: str, port: int) -> None:
    """Raise :class:`ConfigError` in one line unless ``host:port`` can be listened on."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port") from None


def serve(service: Service, host: str, port: int, api_key: str | None) -> None:
    """Serve until interrupted (``vigil serve``)."""
    uvicorn = require("uvicorn", "vigil serve", extra="serve")
    check_port(host, port)
    app = create_app(service, api_key)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            service.stopping.set()  # live feeds end first, so Ctrl-C stops the server at once
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                          timeout_graceful_shutdown=3)).run()
