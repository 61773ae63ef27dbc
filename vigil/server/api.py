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
``GET  /api/openapi.json``  the API's OpenAPI schema
``GET  /``                  the dashboard (no build step, no external network)
``GET  /docs``              the API reference: Swagger UI over the schema, from local files
==========================  =================================================================

With ``VIGIL_API_KEY`` set, every ``/api/`` route needs ``Authorization: Bearer <key>`` (401
otherwise). The pages hold no data: they ask for the key and keep it in the browser tab's
session storage, and send it with every request they make. Requests whose ``Host`` is neither an
IP address nor a trusted name (:func:`trusted_hosts`) are refused with 400, so a page of another
site whose name was pointed at this machine (DNS rebinding) reads nothing.

One :class:`~vigil.core.store.Store` (SQLite in WAL mode, one connection behind a lock) serves the
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
import asyncio
import hmac
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vigil.core.config import CAMERA_NAME
from vigil.core.errors import (
    ConfigError,
    DataError,
    StoreError,
    UnknownCameraError,
    VideoError,
    VigilError,
)
from vigil.core.imports import require
from vigil.server.service import (  # noqa: F401 - Service and video_id were defined here once; kept importable
    MEDIA_SUFFIXES,
    POLL_S,
    Service,
    utc_text,
    video_id,
)

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: the host names a server answers to whatever it was told: a name that is not loopback must be
#: listed (``--allow-host``); any IP address is answered (no DNS rebinding can forge one)
LOOPBACK_NAMES = ("localhost",)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
#: the largest row number, offset or feed position (SQLite's INTEGER is 64-bit)
MAX_ROW = 2**63 - 1
#: an IP address as a ``Host`` header holds it (``[v6]`` or ``v4``, maybe a port) or as ``--host`` does
ADDRESS_HOST = re.compile(r"\[(?P<v6>[0-9A-Fa-f:.]+)\](:[0-9]{1,5})?|(?P<v4>[0-9.]+)(:[0-9]{1,5})?|(?P<bare>[0-9A-Fa-f:.]+)")
HOST_PATTERN = re.compile(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")


# --------------------------------------------------------------------------- what may come in
def _text(value: str) -> str:
    """Text from a client holds no NUL: no path, name or question does, and the file system
    refuses it (pydantic already refuses a lone surrogate)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Text = Annotated[str, AfterValidator(_text)]


class AskRequest(BaseModel):
    """``POST /api/ask``: the question and what it is about (as ``vigil ask``'s flags)."""

    model_config = ConfigDict(extra="forbid")

    question: Text = Field(min_length=1, max_length=1000, description="The question in plain English.")
    video: Text | None = Field(None, max_length=4096, description="Ask about this video (a path on the server).")
    camera: Text | None = Field(None, pattern=CAMERA_NAME.pattern, description="Ask about this camera's footage.")
    all: bool = Field(False, description="Ask about every camera (the default without video/camera).")
    since: Text | None = Field(None, max_length=64, description="Only from this time: seconds of video or a time of day.")
    until: Text | None = Field(None, max_length=64, description="Only until this time.")


class SourceRequest(BaseModel):
    """``POST /api/sources``: what to watch, with which camera's profile."""

    model_config = ConfigDict(extra="forbid")

    source: Text = Field(min_length=1, max_length=4096,
                         description="Video file or folder on the server, rtsp:// or http(s):// URL, webcam index.")
    camera: Text = Field(pattern=CAMERA_NAME.pattern, description="A fitted camera.")
    max_seconds: float | None = Field(None, gt=0, allow_inf_nan=False, description="Stop after this much video.")


class Problem(BaseModel):
    """Every error the API answers: ``{"detail": ...}``."""

    detail: str | list[dict[str, Any]] = Field(
        description="What is wrong: one line, or (invalid requests) FastAPI's list of the invalid fields.")


class SourceView(BaseModel):
    """A background watch as the API shows it."""

    id: str
    source: str = Field(description="The source as the store keys it (a resolved path, a URL, a webcam index).")
    camera_id: str
    status: str = Field(description="starting | watching | finished | stopped | failed")
    error: str | None
    video_s: float = Field(description="Seconds of video watched so far.")
    alerts: int
    max_seconds: float | None
    started_at: str
    ended_at: str | None


class Health(BaseModel):
    """``GET /health``."""

    status: str
    version: str
    schema_version: int
    watching: int = Field(description="Background watches running now.")
    mqtt: str | None = Field(description="connected | disconnected, or null without a broker.")


def _answers(*codes: int, model: bool = True) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route, all JSON ``{"detail": ...}`` (``model=False``
    for a route whose own answer is not JSON: the schema is named instead, which other routes'
    use of :class:`Problem` puts among the components)."""
    why = {400: "Bad request.", 401: "Missing or wrong API key.", 403: "Not a file the API serves.",
           404: "No such thing.", 409: "Already being watched.", 422: "Invalid request.",
           503: "The store cannot be used."}
    if model:
        return {code: {"model": Problem, "description": why[code]} for code in codes}
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {code: {"description": why[code], "content": problem} for code in codes}


# --------------------------------------------------------------------------- who may ask
def check_api_key(key: str | None) -> str | None:
    """The API key to require, or ``None`` for none (unset or empty).

    A key must be something every HTTP client can send and the server can compare: printable
    ASCII (header values are Latin-1 at best, and browsers refuse more), with no whitespace at
    either end (clients strip it, so a key ending in a newline could never match).

    Raises:
        ConfigError: a key no client could send, in one line that does not show it.
    """
    if not key:
        return None
    if key != key.strip():
        raise ConfigError("VIGIL_API_KEY begins or ends with whitespace (a newline?); HTTP clients strip it, so "
                          "no request could match: remove it")
    if not (key.isascii() and key.isprintable()):
        raise ConfigError("VIGIL_API_KEY holds characters an HTTP header cannot carry; use printable ASCII only "
                          "(letters, digits, punctuation), e.g. the output of: openssl rand -hex 32")
    return key


def trusted_hosts(host: str = "127.0.0.1", allow: Sequence[str] = ()) -> list[str]:
    """The host names (``Host`` header) the server answers to, besides any IP address.

    ``localhost``, the name it listens on (``--host``, unless an address) and each of ``allow``
    (``--allow-host``: a name, ``*.example.com`` for its subdomains, ``*`` for any). A page of
    another site whose name was made to point at this machine (DNS rebinding) sends its own
    name, so it is refused.

    Raises:
        ConfigError: a name that is not one.
    """
    names = list(LOOPBACK_NAMES)
    if not _is_address(host):
        names.append(host.lower())
    for name in allow:
        if name != "*" and not HOST_PATTERN.fullmatch(name):
            raise ConfigError(f"--allow-host {name!r}: expected a host name such as vigil.example.com, *.example.com "
                              "for its subdomains or * for any (no scheme, no port)")
        names.append(name.lower())
    return list(dict.fromkeys(names))


def _is_address(host: str | None) -> bool:
    """Whether a host (or a ``Host`` header, port and all) is an IP address, not a name."""
    match = ADDRESS_HOST.fullmatch(host or "")
    if match is None:
        return False
    try:
        ipaddress.ip_address(match["v6"] or match["v4"] or match["bare"])
    except ValueError:
        return False
    return True


class HostGuard:
    """ASGI middleware: answer a request only if its ``Host`` is an IP address or one of the
    trusted names (Starlette's ``TrustedHostMiddleware`` checks the names; 400 otherwise)."""

    def __init__(self, app: Any, allowed_hosts: Sequence[str]) -> None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        self.app = app
        self.by_name = TrustedHostMiddleware(app, allowed_hosts=list(allowed_hosts), www_redirect=False)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), None)
            if _is_address(host):
                await self.app(scope, receive, send)
                return
        await self.by_name(scope, receive, send)


def docs_assets() -> Path | None:
    """The folder of Swagger UI's files (``fastapi-offline`` ships them), or ``None``."""
    try:
        from importlib.resources import files

        folder = Path(str(files("fastapi_offline") / "static"))
    except (ImportError, TypeError):
        return None
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


# --------------------------------------------------------------------------- the app
def create_app(service: Service, api_key: str | None = None, *, allowed_hosts: Sequence[str] | None = None) -> Any:
    """The FastAPI application over ``service``.

    Args:
        service: what to serve.
        api_key: guards every ``/api/`` route (see :func:`check_api_key`).
        allowed_hosts: the host names to answer to (:func:`trusted_hosts`; default: loopback's).
    """
    fastapi = require("fastapi", "vigil serve", extra="serve")
    from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    from vigil import __version__

    api_key = check_api_key(api_key)
    bearer = HTTPBearer(auto_error=False, description="VIGIL_API_KEY")

    def check_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        token = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(token.encode(), (api_key or "").encode()):
            raise HTTPException(401, "missing or wrong API key: send Authorization: Bearer <VIGIL_API_KEY>",
                                headers={"WWW-Authenticate": "Bearer"})

    class EventStream(StreamingResponse):
        media_type = "text/event-stream"

    class SafeJSONResponse(JSONResponse):
        """JSON in ASCII: an invalid request's echoed input may hold text UTF-8 cannot encode."""

        def render(self, content: Any) -> bytes:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()

    app = FastAPI(title="Vigil", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  description="The HTTP API of `vigil serve`. With VIGIL_API_KEY set, every /api/ route needs "
                              "`Authorization: Bearer <key>`.")
    app.state.service = service
    keyed = (400, 401, 503) if api_key else (400, 503)  # what any /api/ route may answer
    api = APIRouter(prefix="/api", dependencies=[Depends(check_key)] if api_key else [], responses=_answers(*keyed))
    assets = docs_assets()

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    app.add_middleware(HostGuard, allowed_hosts=trusted_hosts() if allowed_hosts is None else allowed_hosts)

    status_of = {UnknownCameraError: 404, VideoError: 422, ConfigError: 422, DataError: 422, StoreError: 503}

    @app.exception_handler(VigilError)
    async def vigil_error(request: Request, exc: VigilError) -> Any:
        code = next((c for kind, c in status_of.items() if isinstance(exc, kind)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError) -> Any:
        return JSONResponse({"detail": str(exc.args[0]) if exc.args else "not found"}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Any:
        return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @app.get("/health", response_model=Health)
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "schema_version": service.store.schema_version,
                "watching": sum(j.running for j in service.jobs()),
                "mqtt": None if service.mqtt is None else ("connected" if service.mqtt.connected else "disconnected")}

    @api.get("/openapi.json", include_in_schema=False)
    def openapi() -> Any:
        return JSONResponse(app.openapi())

    @api.get("/cameras")
    def cameras() -> list[dict[str, Any]]:
        return service.cameras()

    @api.get("/alerts", responses=_answers(422))
    def alerts(camera: Text | None = None, type: Text | None = None, source: Text | None = None,  # noqa: A002
               since: Text | None = None, until: Text | None = None, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0, le=MAX_ROW)) -> dict[str, Any]:
        total, rows = service.store.page_alerts(
            camera=camera, event_type=type, source=source, since=utc_text(since, "since") if since else None,
            until=utc_text(until, "until") if until else None, limit=limit, offset=offset)
        return {"items": [service.alert_view(a) for a in rows], "total": total, "limit": limit, "offset": offset,
                "next_offset": offset + len(rows) if offset + len(rows) < total else None}

    @api.get("/alerts/stream", response_class=EventStream, responses={
        200: {"description": "Server-sent events: `alert` events whose id is the alert's place in the store.",
              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **_answers(*keyed, 422, model=False)})
    async def alert_stream(request: Request, after: int | None = Query(None, ge=0, le=MAX_ROW),
                           last_event_id: int | None = Header(None, ge=0, le=MAX_ROW)) -> Any:
        if after is None:
            after = last_event_id
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

        return EventStream(events(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @api.get("/alerts/{alert_id}", responses=_answers(404))
    def alert(alert_id: str) -> dict[str, Any]:
        found = service.store.alert(alert_id)
        if found is None:
            raise LookupError(f"no alert {alert_id!r}")
        return service.alert_view(found)

    @api.get("/events/{event_id}", responses=_answers(404))
    def event(event_id: str) -> dict[str, Any]:
        return service.event(event_id)

    @api.get("/videos")
    def videos() -> list[dict[str, Any]]:
        return service.videos()

    @api.get("/videos/{vid}/scores", responses=_answers(404))
    def scores(vid: str) -> dict[str, Any]:
        return service.scores(vid)

    @api.post("/ask", responses=_answers(404, 422))
    def ask(req: AskRequest) -> dict[str, Any]:
        return service.ask(req.question, video=req.video, camera=req.camera, all_cameras=req.all, since=req.since,
                           until=req.until)

    @api.get("/sources", response_model=list[SourceView])
    def sources() -> list[dict[str, Any]]:
        return [j.to_dict() for j in service.jobs()]

    @api.post("/sources", status_code=201, response_model=SourceView, responses=_answers(404, 409, 422))
    def start_source(req: SourceRequest) -> dict[str, Any]:
        try:
            return service.start_source(req.source, req.camera, req.max_seconds).to_dict()
        except FileExistsError as exc:
            raise HTTPException(409, str(exc)) from None

    @api.get("/sources/{job_id}", response_model=SourceView, responses=_answers(404))
    def source(job_id: str) -> dict[str, Any]:
        return service.job(job_id).to_dict()

    @api.delete("/sources/{job_id}", response_model=SourceView, responses=_answers(404))
    def stop_source(job_id: str) -> dict[str, Any]:
        return service.stop_source(job_id).to_dict()

    @api.get("/files/{path:path}", response_class=FileResponse, responses={
        200: {"description": "A keyframe or clip.", "content": {kind: {} for kind in sorted(set(MEDIA_SUFFIXES.values()))}},
        **_answers(403, 404)})
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

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        # the page holds no data: its script fetches /api/openapi.json with the key the dashboard keeps
        if assets is None:
            raise HTTPException(404, "the API docs page needs Swagger UI's files: pip install 'vigil[serve]' "
                                     "(the schema itself is at /api/openapi.json)")
        return FileResponse(WEB_DIR / "docs.html", media_type="text/html")

    @app.get("/static/docs/{name}", include_in_schema=False)
    def docs_static(name: str) -> Any:
        kinds = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
        if assets is None or name not in kinds:
            raise HTTPException(404, "not found")
        return FileResponse(assets / name, media_type=kinds[name])

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


def serve(service: Service, host: str, port: int, api_key: str | None, allow_hosts: Sequence[str] = ()) -> None:
    """Serve until interrupted (``vigil serve``); ``allow_hosts`` as :func:`trusted_hosts`'s ``allow``."""
    uvicorn = require("uvicorn", "vigil serve", extra="serve")
    check_port(host, port)
    app = create_app(service, api_key, allowed_hosts=trusted_hosts(host, allow_hosts))

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            service.stopping.set()  # live feeds end first, so Ctrl-C stops the server at once
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                          timeout_graceful_shutdown=3)).run()
