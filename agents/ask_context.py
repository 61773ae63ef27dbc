"""What the ask tools work on: the question's scope, stored evidence, and the searches over it.

:class:`AskContext` searches the store for alerts (``search_events``) and tracked objects
(``search_tracks``) in a question's scope and time range, the pattern memory for event texts
(``search_memory``), indexes videos not seen yet (``scan_video``), and samples and describes an
event's keyframes (:mod:`agents.keyframes`). :class:`Evidence` is one stored event or track,
:class:`Citation` where an answer comes from, :class:`AskAnswer` the answer itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agents.keyframes import describe_event, read_rgb, save_keyframes
from agents.question import OBJECT_TYPES, QuestionPlan
from perception.source.video import Frame, identify_source
from prompts import load_object_words
from vigil.core.errors import VigilError
from vigil.core.llm import VisionClient
from vigil.core.memory import HashingTextEmbedder, PatternMemory, TextEmbedder
from vigil.core.store import Store

log = logging.getLogger(__name__)


class Citation(BaseModel):
    """Where an answer comes from."""

    model_config = ConfigDict(extra="forbid")

    video: str
    camera_id: str
    event_id: str | None = None
    track_id: int | None = Field(None, description="The tracked object cited (its video's track number).")
    object: str | None = Field(None, description="What the cited track is (a detector class).")
    start_s: float
    end_s: float
    keyframe: str | None = None


class AskAnswer(BaseModel):
    """The answer to a question, as printed with ``--json``."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, description="The answer in one or two sentences.")
    found: bool = Field(description="False when nothing matching was found.")
    intervals: list[tuple[float, float]] = Field(default_factory=list, description="Spans in seconds of video.")
    citations: list[Citation] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    unrecognised: list[str] = Field(default_factory=list,
                                    description="Things asked about that Vigil cannot recognise (not searched for).")


@dataclass
class Evidence:
    """One stored event that bears on the question."""

    video: str
    camera_id: str
    event_id: str | None
    event_type: str
    start_s: float
    end_s: float
    confidence: float
    keyframes: list[str]
    text: str
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    track_id: int | None = None  # a tracked object, not an event (event_type is then its class)

    @property
    def keyframe(self) -> str | None:
        """The middle keyframe (the one a citation shows)."""
        return self.keyframes[len(self.keyframes) // 2] if self.keyframes else None

    def citation(self) -> Citation:
        return Citation(video=self.video, camera_id=self.camera_id, event_id=self.event_id, track_id=self.track_id,
                        object=self.event_type if self.track_id is not None else None,
                        start_s=round(self.start_s, 2), end_s=round(self.end_s, 2), keyframe=self.keyframe)


@dataclass
class AskScope:
    """What the question is about."""

    videos: list[str] = field(default_factory=list)   # sources (any form; compared resolved)
    cameras: list[str] = field(default_factory=list)  # empty with all=True: every camera
    all: bool = False

    def describe(self) -> str:
        if self.videos:
            return ", ".join(Path(v).name for v in self.videos)
        if self.cameras:
            return "camera " + ", ".join(self.cameras)
        return "all cameras"


def same_source(a: str, b: str) -> bool:
    """Whether two source strings name the same video (paths compared resolved, see
    :func:`perception.source.video.identify_source`)."""
    if a == b:
        return True
    if "://" in a or "://" in b:
        return False
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except (OSError, RuntimeError):
        return False


FrameReader = Callable[[str, str, float, float], list[Frame]]  # (video, camera, t0, t1) -> frames


@dataclass
class AskContext:
    """What the ask tools may use.

    Args:
        store: the store with indexed videos and their alerts.
        scope: what the question is about.
        memory: the ChromaDB memory with event texts (``search_memory``).
        scanner: ``(video, camera) -> None`` indexes a video (``scan_video``).
        frame_reader: ``(video, camera, t0, t1) -> frames`` (``sample_keyframes``).
        vision: a VLM for ``describe``; without one, an event is described by its stored text.
        embedder: the text embedder the events were indexed with.
        keyframe_dir: where ``sample_keyframes`` writes JPEGs.
    """

    store: Store
    scope: AskScope
    memory: PatternMemory | None = None
    scanner: Callable[[str, str], None] | None = None
    frame_reader: FrameReader | None = None
    vision: VisionClient | None = None
    embedder: TextEmbedder = field(default_factory=HashingTextEmbedder)
    keyframe_dir: Path | None = None
    seen: dict[str, Evidence] = field(default_factory=dict)  # events the tools have returned, by id

    # ------------------------------------------------------------------ tools
    def scan_video(self, video: str, camera: str) -> dict[str, Any]:
        """Index ``video`` with ``camera``'s profile if it is not indexed yet (then it is cached)."""
        if self.indexed(video, camera):
            return {"video": video, "indexed": True, "scanned": False}
        if self.scanner is None:
            return {"video": video, "indexed": False, "error": "no camera to scan it with"}
        self.scanner(video, camera)
        return {"video": video, "indexed": self.indexed(video, camera), "scanned": True}

    def video_row(self, video: str, camera: str | None = None) -> dict[str, Any] | None:
        """The store's record of ``video`` (by ``camera``, when given), or ``None``."""
        for row in self.store.videos(camera):
            if same_source(row["source"], video):
                return row
        return None

    def indexed(self, video: str, camera: str | None = None) -> bool:
        """Whether ``video`` as it is now was scanned to its end (by ``camera``, when given).

        A scan cut short (``--max-seconds``) is not; a file whose content changed since it was
        scanned is not either. A damaged file read until decoding stopped is.
        """
        row = self.video_row(video, camera)
        if row is None:
            return False
        stored = row.get("content_id") or ""
        if stored and "://" not in video and identify_source(video).content_id not in ("", stored):
            return False  # the file was replaced since it was indexed
        return bool(row.get("complete"))

    def coverage_notes(self) -> list[str]:
        """What could not be read of the videos asked about (damaged or truncated files)."""
        notes = []
        for video in self.scope.videos:
            for row in self.store.videos():
                if not same_source(row["source"], video) or row["camera_id"] not in (self.scope.cameras or [row["camera_id"]]):
                    continue
                read, duration = float(row.get("scanned_until") or 0.0), row.get("duration_s")
                if duration and read < float(duration) - 1.0:
                    notes.append(f"Only the first {read:.1f} s of {Path(video).name} could be read (the file says "
                                 f"{float(duration):.1f} s; it is damaged or truncated).")
                break
        return notes

    def _indexed(self) -> tuple[dict[str, dict[str, Any]], list[str], list[tuple[str, str]]] | None:
        """The indexed videos by source, the scope's sources among them and their content ids
        (what is stored of a video as it is now: a file replaced at the same path is another
        video); ``None`` when the videos asked about are not indexed."""
        videos = {r["source"]: r for r in self.store.videos()}
        sources = [s for s in videos if any(same_source(s, v) for v in self.scope.videos)]
        if self.scope.videos and not sources:
            return None
        return videos, sources, [(src, videos[src].get("content_id") or "") for src in sources]

    def search_events(self, plan: QuestionPlan) -> list[Evidence]:
        """Stored alerts that match the plan's types, cameras, videos and time range."""
        cameras = plan.cameras or self.scope.cameras
        indexed = self._indexed()
        if indexed is None:
            return []
        videos, sources, contents = indexed
        out = []
        for a in self.store.find_alerts(cameras=cameras, sources=sources, types=plan.event_types, contents=contents):
            row = videos.get(a["source"]) or {}
            if not _in_time(plan, a["start_s"], a["end_s"], row.get("duration_s"), row.get("start_time")):
                continue
            exp = a["explanation"]
            text = f"{exp['what']} {exp['when']} {exp['where']} {exp['why']}"
            if plan.zones and not any(f"'{z}'" in text for z in plan.zones):
                continue  # the question asks about a zone this alert was not in
            region = a.get("region") or {}
            box = tuple(float(region.get(k, d)) for k, d in (("x1", 0.0), ("y1", 0.0), ("x2", 1.0), ("y2", 1.0)))
            out.append(Evidence(a["source"], a["camera_id"], a["event_id"], a["event_type"], a["start_s"], a["end_s"],
                                a["confidence"], [k for k in a.get("keyframes") or []], text, box))  # type: ignore[arg-type]
        self.seen.update({e.event_id: e for e in out if e.event_id})
        return sorted(out, key=lambda e: (e.camera_id, e.video, e.start_s))

    def search_tracks(self, plan: QuestionPlan) -> list[Evidence]:
        """Stored tracks of the plan's objects (detector classes or class groups), cameras,
        videos and time range; for an object-presence type (a vehicle) also the tracks of that
        type's class group."""
        from perception.detect import GROUPS, group_of

        groups = [o for o in plan.objects if o in GROUPS] + [OBJECT_TYPES[t] for t in plan.event_types if t in OBJECT_TYPES]
        # a group means its classes too (a cyclist's track may be mostly a person's box)
        labels = [o for o in plan.objects if o not in GROUPS]
        labels += [c for c in load_object_words()[0] if group_of(c) in groups and c not in labels]
        if not (labels or groups):
            return []
        cameras = plan.cameras or self.scope.cameras
        indexed = self._indexed()
        if indexed is None:
            return []
        videos, sources, contents = indexed
        out = []
        for t in self.store.find_tracks(cameras=cameras, sources=sources, labels=labels, groups=groups, contents=contents):
            row = videos.get(t["source"]) or {}
            if not _in_time(plan, t["start_s"], t["end_s"], row.get("duration_s"), row.get("start_time")):
                continue
            zones = t.get("zones") or {}
            if plan.zones and not any(zones.get(z, 0.0) > 0 for z in plan.zones):
                continue
            name = t["label"] if t["label"] != "unknown" else (
                f"unidentified {t['group']} object" if t["group"] not in ("unknown", "other") else "unidentified moving object")
            where = "".join(f", {s:.1f} s in zone '{z}'" for z, s in zones.items())
            text = (f"a {name} seen from {t['start_s']:.1f} s to {t['end_s']:.1f} s, moving at "
                    f"{t.get('speed', 0.0):.1f} body heights/s (up to {t.get('speed_high', 0.0):.1f}){where}")
            box = tuple(float(v) for v in t.get("box") or (0.0, 0.0, 1.0, 1.0))
            keyframes = [t["keyframe"]] if t.get("keyframe") else []
            out.append(Evidence(t["source"], t["camera_id"], None, name, t["start_s"], t["end_s"], t["confidence"], keyframes,
                                text, box, track_id=int(t["track_id"])))  # type: ignore[arg-type]
        return sorted(out, key=lambda e: (e.camera_id, e.video, e.start_s))

    def search_memory(self, text: str, k: int = 20) -> list[dict[str, Any]]:
        """Event texts nearest to ``text`` in the pattern memory, within the scope's cameras."""
        if self.memory is None:
            return []
        cams = self.scope.cameras
        where = None if not cams else ({"camera_id": cams[0]} if len(cams) == 1 else {"camera_id": {"$in": cams}})
        try:
            return self.memory.search_events(self.embedder.embed([text])[0], k=k, where=where, space=self.embedder.space)
        except VigilError as exc:  # an embeddings endpoint that is down: answer from the store alone
            log.warning("search_memory failed: %s", exc)
            return []

    def sample_keyframes(self, evidence: Evidence, n: int = 6) -> list[str]:
        """``n`` frames of an event picked with ATS over its stored window scores, saved as JPEGs."""
        if self.frame_reader is None or self.keyframe_dir is None:
            return []
        t0, t1 = evidence.start_s, evidence.end_s
        frames = self.frame_reader(evidence.video, evidence.camera_id, t0, t1)
        if not frames:
            return []
        stored = self.store.windows(evidence.camera_id, evidence.video, since=t0 - 2.0, until=t1 + 2.0)
        times = np.array([f.t for f in frames])
        if stored:  # window scores at window centres, read at each frame's time
            scores = np.interp(times, [(w.ts_start + w.ts_end) / 2 for w in stored], [w.anomaly_score for w in stored])
        else:
            scores = np.ones(times.size)
        folder = self.keyframe_dir / (evidence.event_id or f"{Path(evidence.video).stem}_{t0:.0f}")
        return [path for _t, path in save_keyframes(frames, scores, n, folder)]

    def describe(self, evidence: Evidence) -> tuple[str, str]:
        """What happened in an event and who says so: the VLM on its keyframes, else its stored text."""
        seen = describe_event(self.vision, lambda: read_rgb(evidence.keyframes) or None, camera=evidence.camera_id,
                              start_s=evidence.start_s, end_s=evidence.end_s, region=evidence.region,
                              fallback=lambda: evidence.text, fallback_by="stored explanation",
                              fallback_note="the stored explanation", logger=log)
        return seen.text, seen.by


def _in_time(plan: QuestionPlan, start: float, end: float, duration: float | None, start_time: str | None) -> bool:
    lo, hi = plan.time_from, plan.time_to
    if plan.last_s is not None and duration:
        lo, hi = max(0.0, duration - plan.last_s), duration
    if lo is not None and end < lo:
        return False
    if hi is not None and start > hi:
        return False
    if plan.clock_from or plan.clock_to:
        if not start_time:
            return False  # no wall clock for this video: it cannot be placed in the hours asked
        t0 = datetime.fromisoformat(start_time)
        a, b = t0 + timedelta(seconds=start), t0 + timedelta(seconds=end)
        if plan.clock_from and _tod(b) < _hm(plan.clock_from) * 60:
            return False
        if plan.clock_to and _tod(a) >= _hm(plan.clock_to) * 60:
            return False
    return True


def _tod(d: datetime) -> float:
    """Seconds since midnight."""
    return d.hour * 3600 + d.minute * 60 + d.second + d.microsecond / 1e6


def _hm(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:5])
