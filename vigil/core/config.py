"""Configuration: one optional YAML file, environment overrides, pydantic validation.

Resolution order, later wins: built-in defaults < ``vigil.yaml`` < environment variables <
command-line flags. A camera section holds only what differs from ``defaults``::

    data_dir: /var/lib/vigil
    llm: {url: http://gpu-box:8000/v1, model: Qwen/Qwen2.5-7B-Instruct}
    defaults: {fps: 8, window: 16, stride: 8, threshold: 0.3}
    cameras:
      lobby:
        source: rtsp://10.0.0.7/stream1
        threshold: 0.6
        zones:
          - {name: server-room door, kind: restricted,
             polygon: [[0.70, 0.40], [0.95, 0.40], [0.95, 0.90], [0.70, 0.90]]}

Any invalid value raises :class:`~vigil.core.errors.ConfigError` with one line naming the field,
the value and what is allowed; so does a file over 1 MiB or one whose aliases expand past
:data:`vigil.core.safeyaml.MAX_VALUES` values.
"""

from __future__ import annotations

import copy
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

# camera names are checked where the data dir's layout is defined (re-exported here)
from vigil.core.datadir import CAMERA_NAME as CAMERA_NAME
from vigil.core.datadir import MODELS_NAME, camera_name_problem
from vigil.core.datadir import validate_camera_name as validate_camera_name
from vigil.core.errors import ConfigError, UnknownCameraError
from vigil.core.safeyaml import TooLargeError, read_text_capped, safe_load

CONFIG_ENV = "VIGIL_CONFIG"
DEFAULT_CONFIG_NAME = "vigil.yaml"
#: A config holds settings and zone polygons for a handful of cameras; far below this.
MAX_CONFIG_BYTES = 1 << 20

#: Environment variable -> dotted setting it overrides.
ENV_OVERRIDES: dict[str, str] = {
    "VIGIL_DATA_DIR": "data_dir",
    "VIGIL_LLM_URL": "llm.url",
    "VIGIL_LLM_MODEL": "llm.model",
    "VIGIL_LLM_API_KEY": "llm.api_key",
    "VIGIL_LLM_TIMEOUT": "llm.timeout_s",
    "VIGIL_LLM_RETRY_AFTER": "llm.retry_after_s",
    "VIGIL_VLM_URL": "vlm.url",
    "VIGIL_VLM_MODEL": "vlm.model",
    "VIGIL_VLM_API_KEY": "vlm.api_key",
    "VIGIL_VLM_TIMEOUT": "vlm.timeout_s",
    "VIGIL_VLM_RETRY_AFTER": "vlm.retry_after_s",
    "VIGIL_EMBED_URL": "embeddings.url",
    "VIGIL_EMBED_MODEL": "embeddings.model",
    "VIGIL_EMBED_API_KEY": "embeddings.api_key",
    "VIGIL_MEMORY_URL": "memory_url",
    "VIGIL_MQTT": "mqtt",
    "VIGIL_MODELS_DIR": "models_dir",
    "VIGIL_FPS": "defaults.fps",
    "VIGIL_THRESHOLD": "defaults.threshold",
}

ZoneKind = Literal["restricted", "loitering", "pedestrian"]


class Zone(BaseModel):
    """A named region of the image, as a polygon in normalised (x, y) coordinates.

    ``restricted``: nobody should enter; ``loitering``: nobody should linger;
    ``pedestrian``: people only, no vehicles.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Shown in alert explanations.")
    kind: ZoneKind = Field(description="restricted | loitering | pedestrian")
    polygon: tuple[tuple[float, float], ...] = Field(
        description="At least three (x, y) vertices, each coordinate in [0, 1]."
    )

    @field_validator("polygon")
    @classmethod
    def _check_polygon(cls, value: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if len(value) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(value)}")
        for x, y in value:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside [0, 1]; use normalised coordinates")
        if polygon_area(value) < 1e-6:
            raise ValueError("the polygon encloses no area (its points repeat or lie on one line)")
        return value

    def contains(self, x: float, y: float) -> bool:
        """Whether the normalised point (x, y) lies inside the polygon (even-odd rule)."""
        inside = False
        pts = self.polygon
        j = len(pts) - 1
        for i in range(len(pts)):
            xi, yi = pts[i]
            xj, yj = pts[j]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside


def polygon_area(points: tuple[tuple[float, float], ...]) -> float:
    """Area of a simple polygon (shoelace formula), in the units of its coordinates squared."""
    n = len(points)
    twice = sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1] for i in range(n))
    return abs(twice) / 2.0


class DetectionConfig(BaseModel):
    """Every threshold of perception and of the type rules, in physical terms.

    Speeds are in body heights per second (a walker is about 0.7-1, a runner 2 or more, near the
    camera or far from it), sizes in person areas or body heights of a person standing at that
    spot, times in seconds. Defaults are what real sites use; a scene with short events (the
    synthetic demo) sets its own in its ``vigil.yaml``.
    """

    model_config = ConfigDict(extra="forbid")

    # --- the object detector and the tracker
    detector: Literal["yolov3-tiny", "yolo11n", "blobs", "ultralytics", "rfdetr", "none"] = Field(
        "yolov3-tiny", description="Object detector: yolov3-tiny (embedded, `vigil models pull`), yolo11n (optional, "
        "stronger on small, far objects; weights AGPL-3.0, `vigil models pull yolo11n`), blobs (foreground "
        "regions, no classes), ultralytics or rfdetr (local weights), none (cell scores only).")
    weights: str | None = Field(None, description="Local weights file for ultralytics / rfdetr.")
    input_size: int | Literal["auto"] = Field(
        "auto", description="Detector input, long side in pixels (multiple of 32); auto: chosen at fit time so the "
        "camera's smaller people are about 32 pixels tall for the network in yolov3-tiny's boxes (64 in yolo11n's, "
        "which hold the whole person).")
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="yolov3-tiny's arithmetic: int8 quantises it when the camera is fitted, calibrated on the "
        "camera's normal frames (about 2x faster on CPUs with VNNI; boxes differ slightly, so check the camera's AUC).")
    detector_fps: float = Field(1.0, ge=0, le=60, description="Detections per second of video on ordinary footage "
                                "(0: only where the cell scorer flags).")
    fit_detector_fps: float = Field(2.0, gt=0, le=60, description="Detections per second while fitting on normal "
                                    "footage (its objects are the normal bank).")
    flagged_fps: float = Field(2.0, gt=0, le=60, description="Detections per second while the cell scorer flags the "
                               "footage (with carry_tracks the tracks move by optical flow between them).")
    blob_flagged_fps: float = Field(8.0, gt=0, le=60, description="Looks at the foreground per second while flagged when "
                                    "foreground blobs are the detector (detector: blobs, or a detector that does not "
                                    "fit the camera): blobs cost little and are not carried between looks.")
    flag_score: float = Field(0.2, ge=0, le=1, description="Calibrated cell score from which footage counts as flagged.")
    min_confidence: float = Field(0.15, ge=0, le=1, description="Detections weaker than this are not followed.")
    detect_crops: bool = Field(True, description="The detector looks only around foreground regions and the objects "
                               "it follows (at the scale it sees the whole frame at, so it finds the same objects), "
                               "and at the whole activity region every full_look_s seconds.")
    full_look_s: float = Field(4.0, gt=0, le=3600, description="Seconds of video between looks at the whole activity "
                               "region when detect_crops is on (what the background does not show as foreground).")
    carry_tracks: bool = Field(True, description="Between the detector's looks, tracks move with their contents "
                               "(optical flow) instead of waiting for the next look: speeds are measured at the "
                               "sampling rate while the detector looks less often.")
    min_coverage: float = Field(
        0.4, ge=0, le=1, description="Share of the normal footage's moving foreground the detector's boxes must cover "
        "for its objects to be scored; below it the detector does not see this camera's movers (rendered or thermal "
        "footage, say) and its objects are followed as foreground blobs instead, as with detector: blobs.")
    unexplained_blobs: bool = Field(False, description="Also follow foreground regions no detection covers, as unknown "
                                    "objects (by default what the detector cannot name is scored by the motion cells).")
    track_lost_s: float = Field(1.5, gt=0, le=60, description="A track unseen this long is ended.")
    object_memory_s: float = Field(0.0, ge=0, le=60, description="An object keeps its highest score this long (0: each "
                                   "window on its own; a window already aggregates two seconds of the object).")
    cell_exceedance: bool | Literal["auto"] = Field(
        False, description="Besides the nearest normal cells, test each cell feature one-sidedly against its local "
        "normal high (more foreground, more speed, a longer stay, a wider outline than this place ever showed): true, "
        "false, or auto: on where no detector follows the camera's objects (blobs, none, or a detector that does not "
        "see them). Sensitive: it needs normal footage that shows every place busy (with two minutes it raised "
        "unknown alerts on normal footage). Takes effect when the camera is fitted.")

    @field_validator("cell_exceedance", mode="before")
    @classmethod
    def _check_cell_exceedance(cls, value: Any) -> Any:
        if isinstance(value, bool) or value == "auto":
            return value
        raise ValueError(f"{value!r} is not one of: true, false, auto")

    @model_validator(mode="after")
    def _check_precision(self) -> DetectionConfig:
        if self.precision == "int8" and self.detector in ("yolo11n", "ultralytics", "rfdetr"):
            raise ValueError(f"precision int8 quantises yolov3-tiny only; {self.detector} runs in fp32")
        return self

    def with_detector(self, detector: str) -> DetectionConfig:
        """These settings with another ``detector`` (``vigil fit --detector``), checked as a
        config file's are; :class:`ConfigError` naming the problem otherwise."""
        try:
            return DetectionConfig.model_validate({**self.model_dump(), "detector": detector})
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise ConfigError(f"--detector {detector}: {msg.removeprefix('Value error, ')}") from None

    # --- foreground (learned from the camera's normal footage)
    fg_sigma: float = Field(6.0, gt=0, le=50, description="Robust spreads of the normal pixel noise above which a pixel "
                            "is foreground (compressed video has heavy-tailed noise: 6 keeps its artefacts out).")
    fg_floor: float = Field(10.0, gt=0, le=255, description="Grey levels: the least difference that counts as foreground.")
    # --- type rules (and the tripwires that open candidates for them)
    run_speed: float = Field(1.5, gt=0, le=20, description="Body heights/s above which a person is running.")
    still_speed: float = Field(0.25, gt=0, le=5, description="Body heights/s below which an object is still.")
    dwell_speed: float = Field(0.35, gt=0, le=5, description="Body heights/s below which presence counts as lingering.")
    vehicle_size: float = Field(3.5, gt=0, le=100, description="Person areas from which an unnamed object is vehicle-sized.")
    group_size: float = Field(2.5, gt=0, le=100, description="Person areas above which a blob is more than one person.")
    lying_aspect: float = Field(1.3, gt=0, le=10, description="Box width/height above which a person is lying.")
    lying_s: float = Field(1.5, gt=0, le=600, description="Seconds a person must stay down to have fallen.")
    lying_speed: float = Field(1.0, gt=0, le=20, description="Body heights/s above which a wide box is moving, not lying.")
    fallen_height: float = Field(0.5, gt=0, lt=1, description="Share of their standing height below which a person "
                                 "the detector follows is down (a fall toward or away from the camera).")
    fight_jitter: float = Field(0.6, gt=0, le=20, description="Body heights/s of velocity change that makes motion erratic.")
    intrusion_s: float = Field(1.0, ge=0, le=3600, description="Seconds inside a restricted zone that make an intrusion.")
    vehicle_s: float = Field(1.0, ge=0, le=3600, description="Seconds a vehicle must move inside a pedestrian zone.")
    loiter_s: float = Field(120.0, gt=0, le=86400, description="Seconds of lingering in a loitering zone that make loitering.")
    abandoned_s: float = Field(60.0, gt=0, le=86400, description="Seconds an object must lie unattended to be abandoned.")
    zone_score: float = Field(0.9, ge=0, le=1, description="Least score of the moments when a restricted zone has been "
                              "occupied for intrusion_s (from the entry), someone has lingered in a loitering zone for "
                              "loiter_s, or an object has lain unattended long enough for the abandoned-object rule to name it (abandoned_s "
                              "at least): the camera's own rules call "
                              "these anomalies whatever its normal footage shows. "
                              "0 leaves the scores to the normality model alone.")
    # --- the agents' decisions (calibrated scores: 0.5 is rarer than 999 in 1000 normal moments)
    unknown_alert_score: float = Field(0.75, ge=0, le=1, description="Peak calibrated score from which a continuous "
                                       "event no rule can name is raised as an unknown anomaly.")
    triage_confidence: float = Field(0.6, ge=0, le=1, description="Rule confidence from which a candidate is worth "
                                     "a language model's attention.")


class CameraConfig(BaseModel):
    """Per-camera settings; ``defaults`` fills whatever a camera section leaves out."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(
        None, description="Video file, frame folder, rtsp:// or http(s):// URL, or webcam index."
    )
    fps: float = Field(8.0, gt=0, le=60, description="Frames sampled per second of video.")
    frame_width: int = Field(320, ge=32, le=3840, description="Frames are resized to this width.")
    window: int = Field(16, ge=2, le=256, description="Frames per scoring window.")
    stride: int = Field(8, ge=1, le=256, description="Frames between window starts.")
    threshold: float = Field(
        0.3, ge=0, le=1, description="Calibrated score that opens a candidate event (the agents then judge it)."
    )
    min_event_s: float = Field(1.0, ge=0, le=600, description="Shorter candidate events are dropped.")
    confidence_threshold: float = Field(
        0.8, ge=0, le=1, description="Type confidence needed to name a known anomaly type."
    )
    folder_fps: float | None = Field(
        None, gt=0, le=1000, description="Frame rate of image-folder sources (default: fps)."
    )
    reconnect_attempts: int = Field(5, ge=0, le=100, description="Reconnects before a stream is given up.")
    reconnect_max_delay_s: float = Field(10.0, gt=0, le=600, description="Cap on the reconnect backoff.")
    zones: list[Zone] = Field(default_factory=list)
    detection: DetectionConfig = Field(default_factory=DetectionConfig,
                                       description="Thresholds of perception and the type rules (physical units).")
    schedule: list[str] = Field(
        default_factory=list,
        description='Hours when alerts are raised, as "HH:MM-HH:MM" (may cross midnight); empty: always.',
    )

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", item.strip()):
                raise ValueError(f'schedule entry {item!r} must look like "22:00-06:30"')
        return [v.strip() for v in value]

    def active_at(self, hour: int, minute: int) -> bool:
        """Whether alerts are raised at this time of day (always, without a schedule)."""
        if not self.schedule:
            return True
        now = hour * 60 + minute
        for item in self.schedule:
            a, b = item.split("-")
            start = int(a[:2]) * 60 + int(a[3:])
            end = int(b[:2]) * 60 + int(b[3:])
            if (start <= now < end) if start <= end else (now >= start or now < end):
                return True
        return False

    @model_validator(mode="after")
    def _stride_within_window(self) -> CameraConfig:
        if self.stride > self.window:
            raise ValueError(f"stride ({self.stride}) must not exceed window ({self.window})")
        names = [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"zone names must be unique; repeated: {', '.join(dupes)}")
        return self


class Endpoint(BaseModel):
    """An OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, ...)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="Base URL, e.g. http://localhost:8000/v1")
    model: str | None = Field(None, description="Model name the server expects.")
    api_key: SecretStr | None = Field(None, description="Prefer the environment variable.")
    timeout_s: float = Field(30.0, gt=0, le=3600, description="Seconds to wait for one reply.")
    retry_after_s: float = Field(
        60.0, ge=0, le=86400,
        description="After a failure (down, slow, malformed reply) the endpoint is left alone this long, "
        "the rule policy answering instead, then tried again.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if value else value

    @property
    def configured(self) -> bool:
        """True when a URL is set."""
        return bool(self.url)


class Settings(BaseModel):
    """Everything Vigil reads from ``vigil.yaml`` and the environment."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(Path("vigil-data"), description="Store, profiles, keyframes and clips.")
    models_dir: Path | None = Field(None, description="Model cache (`vigil models pull`); default <data_dir>/models.")
    memory_url: str | None = Field(None, description="A Chroma server (http://host:port); default: local files.")
    llm: Endpoint = Field(default_factory=Endpoint, description="Chat model for the agents.")
    vlm: Endpoint = Field(default_factory=Endpoint, description="Vision-language model for describe.")
    embeddings: Endpoint = Field(default_factory=Endpoint,
                                 description="/v1/embeddings endpoint for event texts; default: hashed n-grams offline.")
    mqtt: str | None = Field(None, description="MQTT broker for alerts and camera status (mqtt://host:1883[/prefix]); "
                             "vigil serve publishes to it.")
    defaults: CameraConfig = Field(default_factory=CameraConfig)
    cameras: dict[str, CameraConfig] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _merge_camera_defaults(cls, data: Any) -> Any:
        # Camera sections override the defaults key by key, so each camera validates as a
        # complete CameraConfig and errors point at cameras.<name>.<field>.
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults") or {}
        cameras = data.get("cameras")
        if not isinstance(defaults, dict) or not isinstance(cameras, dict):
            return data
        merged = {}
        for name, section in cameras.items():
            problem = camera_name_problem(name)
            if problem:
                raise ValueError(problem)
            if isinstance(section, dict):
                combined = {**defaults, **section}
                # the detection section merges key by key too: a camera changes only what it names
                if isinstance(defaults.get("detection"), dict) and isinstance(section.get("detection"), dict):
                    combined["detection"] = {**defaults["detection"], **section["detection"]}
                merged[name] = combined
            else:
                merged[name] = section
        return {**data, "cameras": merged}

    @field_validator("mqtt")
    @classmethod
    def _check_mqtt(cls, value: str | None) -> str | None:
        if not value:
            return None
        from vigil.core.mqtt_url import parse_mqtt_url

        try:
            parse_mqtt_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("mqtt ")) from None
        return value

    @model_validator(mode="after")
    def _keys_fall_back_to_llm_key(self) -> Settings:
        for ep in (self.vlm, self.embeddings):
            if ep.api_key is None and self.llm.api_key is not None:
                ep.api_key = self.llm.api_key
        return self

    @property
    def model_cache(self) -> Path:
        """Where detector files live: ``models_dir``, else ``<data_dir>/models``."""
        return Path(self.models_dir).expanduser() if self.models_dir else Path(self.data_dir).expanduser() / MODELS_NAME

    def camera(self, name: str, *, must_exist: bool = False) -> CameraConfig:
        """The effective settings of one camera.

        Args:
            name: camera name.
            must_exist: raise if the camera has no section (otherwise ``defaults`` applies).
        """
        validate_camera_name(name)
        if name in self.cameras:
            return self.cameras[name]
        if must_exist:
            known = ", ".join(sorted(self.cameras)) or "none configured"
            raise UnknownCameraError(f"unknown camera {name!r} (configured: {known})")
        return self.defaults.model_copy(deep=True)


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read: ``explicit``, else ``$VIGIL_CONFIG``, else ``./vigil.yaml``."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    env = os.environ.get(CONFIG_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={env}: file not found")
        return path
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    environ: typing.Mapping[str, str] | None = None,
) -> Settings:
    """Read, merge and validate the configuration.

    Args:
        path: YAML file; ``None`` looks for ``$VIGIL_CONFIG`` then ``./vigil.yaml``.
        overrides: dotted keys from the command line, e.g. ``{"data_dir": "/tmp/v"}``; ``None``
            values are ignored.
        environ: environment to read overrides from (default ``os.environ``).

    Raises:
        ConfigError: unreadable file, invalid YAML or an invalid value.
    """
    environ = os.environ if environ is None else environ
    file = find_config_file(path)
    raw: dict[str, Any] = _read_yaml(file) if file else {}
    origin: dict[tuple[str, ...], str] = {}
    label = str(file) if file else "config"

    for var, dotted in ENV_OVERRIDES.items():
        value = environ.get(var)
        if value:
            _set_dotted(raw, dotted, value)
            origin[tuple(dotted.split("."))] = f"{var}={value}"
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, dotted, value)
            origin[tuple(dotted.split("."))] = f"--{dotted.replace('_', '-')} {value}"

    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, raw, label, origin)) from None


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        text = read_text_capped(file, MAX_CONFIG_BYTES)
    except TooLargeError as exc:
        raise ConfigError(f"{file}: config file is {exc} (a config holds settings and zones, far less); "
                          "is this the right file?") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read config ({exc})") from None
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{file}: invalid YAML{where}: {problem}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5000 digits, which Python refuses
        raise ConfigError(f"{file}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of settings, got {type(data).__name__}")
    return data


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = raw
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def _describe(exc: ValidationError, raw: dict[str, Any], label: str, origin: dict[tuple[str, ...], str]) -> str:
    errors = exc.errors()
    err = errors[0]
    loc = tuple(str(p) for p in err["loc"])
    field = ".".join(loc) or "(top level)"
    where = origin.get(loc)
    if where is None and len(loc) >= 3 and loc[0] == "cameras":
        # A camera inherits a bad default: point at the default, which is what to fix.
        where = origin.get(("defaults", *loc[2:]))
    prefix = f"{where} ({field})" if where else f"{label}: {field}"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        message = f"{label}: unknown setting {field!r}{hint}"
    elif kind == "missing":
        message = f"{prefix}: missing required setting"
    else:
        value = _value_at(raw, loc)
        shown = "" if value is _MISSING or where or isinstance(value, dict) else f" = {_short(value)}"
        msg = err["msg"]
        msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
        message = f"{prefix}{shown}: {msg[0].lower()}{msg[1:]}"
    more = len(errors) - 1
    return message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


_MISSING = object()


def _value_at(raw: Any, loc: tuple[str, ...]) -> Any:
    node = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:  # e.g. a camera value that came from the defaults
            return _MISSING
    return node


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(loc: tuple[str, ...]) -> list[str]:
    cls: Any = Settings
    for part in loc:
        cls = _unwrap(cls)
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            field = cls.model_fields.get(part)
            if field is None:
                return []
            cls = field.annotation
        elif typing.get_origin(cls) in (dict, list, tuple):
            args = typing.get_args(cls)
            cls = args[-1] if typing.get_origin(cls) is dict else args[0]
        else:
            return []
    cls = _unwrap(cls)
    if typing.get_origin(cls) in (dict, list, tuple):
        args = typing.get_args(cls)
        cls = _unwrap(args[-1] if typing.get_origin(cls) is dict else args[0])
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return list(cls.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    # X | None -> X
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def dump_settings(settings: Settings) -> str:
    """The effective configuration as YAML, secrets masked."""
    data = settings.model_dump(mode="json")
    for section in ("llm", "vlm"):
        if data[section].get("api_key"):
            data[section]["api_key"] = "********"
    return yaml.safe_dump(copy.deepcopy(data), sort_keys=False)
