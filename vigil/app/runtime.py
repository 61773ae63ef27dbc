"""The one place that builds the runtime from settings: the language-model backend and its
probe, the VLM client, the pattern memory, the text embedder, the checkpointed agents graph, and
the agents :class:`~agents.watch.Watcher` of a camera.

The command line and the HTTP server both build what they run here, so both behave alike.
Nothing here prints: start-up warnings are collected on :attr:`Runtime.warnings`, trouble met
during a run is returned by :meth:`Runtime.finish`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.core.errors import ConfigError

if TYPE_CHECKING:  # the settings and the store load when a command runs, not for --help
    from vigil.core.store import DataDir


@dataclass(frozen=True)
class ModelOptions:
    """Which backend the agents use (the command line's ``--llm``, ``--llm-gguf``, ``--tool-mode``).

    Attributes:
        llm: auto | rules | openai | llamacpp; auto = llamacpp with a GGUF file, openai when an
            LLM URL is configured, else the rule policy.
        llm_gguf: local GGUF model for llamacpp.
        tool_mode: auto | tools | json.
    """

    llm: str = "auto"
    llm_gguf: str | None = None
    tool_mode: str = "auto"


@dataclass
class Overrides:
    """Settings given on the command line, on top of the settings file.

    Attributes:
        config: the settings file (``None``: $VIGIL_CONFIG or ./vigil.yaml).
        data_dir: the data dir (``None``: the settings').
        llm_url, llm_model, vlm_url, vlm_model: model endpoints.
        extra: further dotted overrides (``{"mqtt": url}``).
    """

    config: str | None = None
    data_dir: str | None = None
    llm_url: str | None = None
    llm_model: str | None = None
    vlm_url: str | None = None
    vlm_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def models(self) -> dict[str, Any]:
        """The endpoint overrides that were given, as dotted settings keys."""
        out: dict[str, Any] = {}
        for value, key in ((self.llm_url, "llm.url"), (self.llm_model, "llm.model"), (self.vlm_url, "vlm.url"),
                           (self.vlm_model, "vlm.model")):
            if value:
                out[key] = value
        return out

    def settings(self) -> Any:
        """The loaded :class:`~vigil.core.config.Settings`."""
        from vigil.core.config import load_settings

        overrides: dict[str, Any] = {"data_dir": self.data_dir, **self.models(), **self.extra}
        return load_settings(self.config, overrides=overrides)

    def settings_of(self, file: str | Path, data_dir: str | Path) -> Any:
        """Settings of another settings file (a demo's or a synthetic folder's) with its own data
        dir; the model cache and the endpoints stay this command's."""
        from vigil.core.config import load_settings

        overrides = {"data_dir": str(data_dir), "models_dir": str(self.settings().model_cache), **self.models()}
        return load_settings(file, overrides=overrides)


def iso_time(text: str | None, flag: str) -> datetime | None:
    """An ISO time given as ``flag`` (``None`` when not given)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text}: expected an ISO time like 2026-11-23T22:15:00") from None


def camera_and_data(settings: Any, camera_id: str) -> tuple[Any, DataDir]:
    """A camera's effective settings and the data dir."""
    from vigil.core.store import DataDir

    return settings.camera(camera_id), DataDir(settings.data_dir)


def load_profile(data: DataDir, camera_id: str) -> Any:
    """A camera's fitted :class:`~perception.profile.CameraProfile`."""
    from perception.profile import CameraProfile

    return CameraProfile.load(data.profile_dir(camera_id), camera_id)


def scan_camera(profile: Any, camera: Any) -> Any:
    """The camera settings a fitted profile is scanned with."""
    # the profile fixes how frames are sampled and windowed; the camera section the rest
    return camera.model_copy(update={"fps": profile.fps, "window": profile.window, "frame_width": profile.frame_width})


def probe_endpoint(endpoint: Any) -> str | None:
    """None if an OpenAI-compatible endpoint answers /models quickly, else what is wrong.

    A 404 on /models is not held against it (some servers have no model list); a 404 on chat
    completions is reported when it happens.
    """
    import httpx

    key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
    try:
        resp = httpx.get(endpoint.url.rstrip("/") + "/models", timeout=min(5.0, endpoint.timeout_s),
                         headers={"Authorization": f"Bearer {key}"} if key else None)
    except httpx.TimeoutException:
        return "does not answer"
    except httpx.HTTPError:
        return "is unreachable"
    if resp.status_code >= 500:
        return f"answers HTTP {resp.status_code}"
    if resp.status_code in (401, 403):
        return f"refuses the API key (HTTP {resp.status_code})"
    return None


class Runtime:
    """What a watch or a question needs beside perception: backends, memory, checkpointed graph.

    Endpoints are probed at start; one that fails is marked down at once (its circuit breaker
    opens), so no decision waits on it until it is tried again ``retry_after_s`` later. What went
    wrong at start is in :attr:`warnings` (take them with :meth:`take_warnings`).
    """

    def __init__(self, options: ModelOptions, settings: Any, data: DataDir) -> None:
        from agents.graph import AlertGraph
        from vigil.core.llm import LlamaCppChat, OpenAIChat, VisionClient
        from vigil.core.memory import PatternMemory, text_embedder

        self.settings, self.data = settings, data
        self.backend: Any = None
        self.warnings: list[str] = []  # said at start
        self._said: set[str] = set()
        choice = options.llm
        if choice == "auto":
            choice = "llamacpp" if options.llm_gguf else ("openai" if settings.llm.configured else "rules")
        if choice == "openai":
            self.backend = OpenAIChat(settings.llm, tool_mode=options.tool_mode)
            self._probe("LLM", self.backend, settings.llm, "decisions fall back to the rule policy")
        elif choice == "llamacpp":
            if not options.llm_gguf:
                raise ConfigError("--llm llamacpp needs --llm-gguf PATH")
            self.backend = LlamaCppChat(options.llm_gguf)
        self.vision = VisionClient(settings.vlm) if settings.vlm.configured else None
        if self.vision is not None:
            self._probe("VLM", self.vision, settings.vlm, "descriptions fall back to scene facts")
        self.memory = PatternMemory(data.memory_dir, url=settings.memory_url)
        self.embedder = text_embedder(settings.embeddings)  # event texts, for questions
        self.graph = AlertGraph(self.backend, data.checkpoints_path)

    @property
    def backend_label(self) -> str:
        """The backend's label, or ``rules``."""
        return self.backend.label if self.backend else "rules"

    def _probe(self, label: str, client: Any, endpoint: Any, instead: str) -> None:
        """Probe ``endpoint`` once; one that fails is marked down at once and warned about."""
        problem = probe_endpoint(endpoint)
        if problem:
            client.usage.mark_down(problem)
            self._said.add(label)
            self.warnings.append(f"{label} endpoint {endpoint.url} {problem}; {instead} "
                                 f"(tried again after {endpoint.retry_after_s:g} s)")

    def take_warnings(self) -> list[str]:
        """The start-up warnings not yet taken (each is given once)."""
        out, self.warnings = self.warnings, []
        return out

    def finish(self, fallback: str = "those decisions used the rule policy") -> tuple[bool, list[str]]:
        """Whether any model endpoint was in trouble during the run (exit status 3), and one
        warning per endpoint that failed (unless it was warned about at start)."""
        troubled, warnings = False, []
        for label, client, instead in (("LLM", self.backend, fallback),
                                       ("VLM", self.vision, "those descriptions used scene facts")):
            usage = getattr(client, "usage", None)
            if usage is None or not usage.troubled:
                continue
            troubled = True
            if label not in self._said:
                self._said.add(label)
                where = f" {usage.url}" if usage.url else ""
                warnings.append(f"{label} endpoint{where}: {usage.summary()}; {instead}")
        return troubled, warnings

    def watcher(self, camera_id: str, store: Any, *, profile: Any = None, camera: Any = None, start_time: datetime | None = None,
                on_alert: Callable[[Any], None] | None = None, webhook: Any = None) -> Any:
        """The agents :class:`~agents.watch.Watcher` of ``camera_id`` (its fitted profile unless one
        is given): the one place a watcher is built, for ``vigil watch``, questions and the server."""
        from agents.watch import Watcher, WatchOptions

        profile = profile if profile is not None else load_profile(self.data, camera_id)
        camera = camera if camera is not None else self.settings.camera(camera_id)
        return Watcher(camera_id, camera, profile, self.data, store, self.graph, memory=self.memory,
                       vision=self.vision, webhook=webhook, options=WatchOptions(start_time=start_time),
                       on_alert=on_alert, text_embedder=self.embedder, models_dir=self.settings.model_cache)

    def close(self) -> None:
        """Close the checkpointed graph."""
        self.graph.close()
