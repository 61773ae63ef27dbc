"""Shared data contracts: the anomaly taxonomy and the ground-truth file (``gt.json``).

``gt.json`` maps a video name to its truth::

    {"test_003_falling": {"path": "test/test_003_falling.mp4", "fps": 15.0, "n_frames": 600,
                          "events": [[12.4, 40.0, "falling"]], "labels": [0, 0, ..., 1],
                          "boxes": [{"frame": 186, "event": 0, "bbox": [0.41, 0.30, 0.47, 0.52]}]}}

``labels`` has one 0/1 entry per source frame; ``boxes`` gives, per labelled frame, the box of
each anomalous actor in normalised ``[x1, y1, x2, y2]``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vigil.core.errors import DataError

#: Canonical anomaly types, in the order reports list them, with their display names.
ANOMALY_TYPES: dict[str, str] = {
    "running": "Running",
    "falling": "Falling",
    "fighting": "Fighting",
    "loitering": "Loitering",
    "intrusion": "Intrusion",
    "vehicle": "Vehicle in pedestrian area",
    "abandoned_object": "Abandoned object",
}
UNKNOWN_ANOMALY = "unknown"


class ActorBox(BaseModel):
    """Where one anomalous actor is in one frame."""

    model_config = ConfigDict(extra="forbid")

    frame: int = Field(ge=0, description="Source frame index.")
    event: int = Field(ge=0, description="Index into the video's events.")
    bbox: tuple[float, float, float, float] = Field(description="Normalised x1, y1, x2, y2.")


class VideoTruth(BaseModel):
    """Ground truth of one video."""

    model_config = ConfigDict(extra="allow")

    path: str | None = Field(None, description="Video file, relative to the gt.json folder.")
    fps: float = Field(gt=0)
    n_frames: int = Field(ge=1)
    events: list[tuple[float, float, str]] = Field(default_factory=list)
    labels: list[int]
    boxes: list[ActorBox] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> VideoTruth:
        if len(self.labels) != self.n_frames:
            raise ValueError(f"labels has {len(self.labels)} entries but n_frames is {self.n_frames}")
        if any(v not in (0, 1) for v in self.labels):
            raise ValueError("labels must be 0 or 1")
        for start, end, _kind in self.events:
            if end < start:
                raise ValueError(f"event [{start}, {end}] ends before it starts")
        return self

    @property
    def duration_s(self) -> float:
        """Length of the video in seconds."""
        return self.n_frames / self.fps

    @property
    def event_types(self) -> list[str]:
        """Distinct event types, in order of appearance."""
        seen: list[str] = []
        for _s, _e, kind in self.events:
            if kind not in seen:
                seen.append(kind)
        return seen


def frame_labels(events: list[tuple[float, float, str]], n_frames: int, fps: float) -> list[int]:
    """Per-frame 0/1 labels: frame ``i`` (at ``i / fps`` s) is 1 inside any ``[start, end)``."""
    labels = [0] * n_frames
    for start, end, _kind in events:
        first = max(0, math.ceil(start * fps - 1e-3))
        last = min(n_frames, math.ceil(end * fps - 1e-3))
        for i in range(first, last):
            labels[i] = 1
    return labels


def frame_label_truth(raw: dict, kind: str | None = None) -> dict[str, dict]:
    """``gt.json`` entries from a frame-label file as benchmarks ship it (UCSD Ped2 here)::

        {"fps": 10.0, "frame_files": "test/<video>/<frame>.jpg",
         "videos": {"01": {"n_frames": 180, "anomalous_frames": [61, 180], "labels": [0, ...]}}}

    ``anomalous_frames`` are 1-based inclusive ranges (one ``[first, last]`` or a list of them);
    each becomes an event of type ``kind``: by default the file's ``anomaly_type``, else
    ``vehicle`` when the videos list ``objects_seen`` (Ped2's non-pedestrian traffic: bicycles,
    skateboards, carts), else ``anomaly``. A video's path is its folder, from ``frame_files``.
    """
    fps = float(raw["fps"])
    if kind is None:
        listed = any("objects_seen" in v for v in raw["videos"].values())
        kind = str(raw.get("anomaly_type") or ("vehicle" if listed else "anomaly"))
    pattern = str(raw.get("frame_files", "<video>"))
    folder = pattern.split("<video>")[0] + "{}" if "<video>" in pattern else "{}"
    out: dict[str, dict] = {}
    for name, v in raw["videos"].items():
        spans = v.get("anomalous_frames") or []
        if spans and not isinstance(spans[0], (list, tuple)):
            spans = [spans]
        events = [[round((a - 1) / fps, 4), round(b / fps, 4), kind] for a, b in spans]
        out[name] = {"path": folder.format(name), "fps": fps, "n_frames": int(v["n_frames"]), "labels": v["labels"],
                     "events": events}
    return out


def load_ground_truth(path: str | Path) -> dict[str, VideoTruth]:
    """Read and validate a ``gt.json`` file, or a benchmark's frame-label file (:func:`frame_label_truth`).

    Raises:
        DataError: missing file, invalid JSON or a video entry that does not validate.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"ground truth not found: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or not raw:
        raise DataError(f"{path}: expected a non-empty mapping of video name -> truth")
    if isinstance(raw.get("videos"), dict) and "fps" in raw:
        try:
            raw = frame_label_truth(raw)  # a benchmark's frame labels
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: a frame-label file needs fps and, per video, n_frames, labels and "
                            f"anomalous_frames ({exc})") from None
    truth: dict[str, VideoTruth] = {}
    for name, entry in raw.items():
        try:
            truth[name] = VideoTruth.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise DataError(f"{path}: video {name!r}: {loc + ': ' if loc else ''}{msg}") from None
    return truth


class Region(BaseModel):
    """A normalised box in the frame."""

    model_config = ConfigDict(extra="forbid")

    x1: float = Field(ge=0, le=1)
    y1: float = Field(ge=0, le=1)
    x2: float = Field(ge=0, le=1)
    y2: float = Field(ge=0, le=1)


class AlertExplanation(BaseModel):
    """What happened, when, where in the frame, and why it is unusual here."""

    model_config = ConfigDict(extra="forbid")

    what: str
    when: str
    where: str
    why: str


class Alert(BaseModel):
    """An explained alert, as stored, printed (``--json``) and posted to webhooks."""

    model_config = ConfigDict(extra="forbid")

    alert_id: str = Field(description="Deterministic from camera, source and onset.")
    camera_id: str
    source: str
    event_id: str
    event_type: str = Field(description="A known anomaly type, or 'unknown'.")
    verdict: str = Field(description="alert or unknown_anomaly.")
    start_s: float
    end_s: float
    peak_score: float
    confidence: float
    explanation: AlertExplanation
    explained_by: str = Field(description="'rules', or the model that wrote the decision.")
    model_disagreed: bool = Field(False, description="A model would have dropped or suppressed this alert; "
                                  "the rules' confident detection stood (the safety floor).")
    model_reason: str | None = Field(None, description="What the model said when it disagreed (its text, as data).")
    keyframes: list[str] = Field(default_factory=list)
    clip: str | None = None
    region: Region
    latency_s: float = Field(description="Video seconds from onset to the alert.")
    created_at: str

    @staticmethod
    def make_id(camera_id: str, source: str, start_s: float, content_id: str = "") -> str:
        """The alert id for an event of ``camera_id`` in ``source`` (with that content) starting at ``start_s``."""
        import hashlib

        ident = source + (f"#{content_id}" if content_id else "")
        raw = f"{camera_id}|{ident}|{round(start_s, 1):.1f}".encode()
        return hashlib.sha1(raw).hexdigest()[:16]

    def line(self) -> str:
        """One human-readable line."""
        name = ANOMALY_TYPES.get(self.event_type, "Unknown anomaly")
        return (f"[{self.camera_id}] {name} at {self.start_s:.1f}-{self.end_s:.1f} s "
                f"(confidence {self.confidence:.2f}, by {self.explained_by}): {self.explanation.what}")
