"""Questions about footage: the ask graph, its tools and its answers.

Same three roles as the alert graph, as a LangGraph state machine:

- **Observer** turns the question into a :class:`~agents.question.QuestionPlan` (rules, or a
  language model whose plan is validated the same way);
- **Analyst** gathers evidence with tools: ``scan_video`` (index a video not seen yet with the
  camera's profile, then it is cached), ``search_events`` (stored alerts by type, camera,
  video and time), ``search_tracks`` (the objects the detector named and the tracker followed:
  bicycles, dogs, people, by class or group), ``search_memory`` (event texts in ChromaDB),
  ``sample_keyframes`` and ``describe``;
- **Decider** answers with citations, or says plainly that nothing was found. Every interval
  in an answer is the span of a stored event or track it cites: nothing is invented.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from agents.question import OBJECT_TYPES, QuestionPlan, parse_question
from agents.runner import run_agent
from agents.tools import Tool
from perception.sampler import AnomalyFocusedSampler
from perception.video import Frame, check_local_source, identify_source, local_exists
from prompts import load_object_words, load_prompt
from vigil.core.errors import ConfigError, UnknownCameraError, VigilError
from vigil.core.llm import ChatBackend, LLMError, ToolSpec, VisionClient, clean_text
from vigil.core.memory import HashingTextEmbedder, PatternMemory, TextEmbedder
from vigil.core.schemas import ANOMALY_TYPES
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
    :func:`perception.video.identify_source`)."""
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
        idx = AnomalyFocusedSampler(dedupe=True).sample(scores, n)
        folder = self.keyframe_dir / (evidence.event_id or f"{Path(evidence.video).stem}_{t0:.0f}")
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for k, i in enumerate(idx.tolist()):
            path = folder / f"keyframe_{k:02d}.jpg"
            if cv2.imwrite(str(path), cv2.cvtColor(frames[i].image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]):
                paths.append(str(path))
        return paths

    def describe(self, evidence: Evidence) -> tuple[str, str]:
        """What happened in an event and who says so: the VLM on its keyframes, else its stored text."""
        if self.vision is not None:
            images = [im for im in (cv2.imread(p) for p in evidence.keyframes) if im is not None]
            if images:
                system, user = load_prompt("describe").render(
                    n_frames=len(images), camera=evidence.camera_id, start_s=f"{evidence.start_s:.1f}",
                    end_s=f"{evidence.end_s:.1f}", region=[round(v, 2) for v in evidence.region])
                try:
                    rgb = [cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in images]
                    return self.vision.describe(rgb, system, user), f"vlm:{self.vision.model}"
                except LLMError as exc:
                    log.warning("VLM describe failed (%s); using the stored explanation", exc)
        return evidence.text, "stored explanation"


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


# ----------------------------------------------------------------------------- tools for a model
class SearchArgs(BaseModel):
    """Arguments of search_events: filters over stored events (empty = any)."""

    model_config = ConfigDict(extra="ignore")

    event_types: list[str] = Field(default_factory=list, description=f"Some of: {', '.join(ANOMALY_TYPES)}.")
    cameras: list[str] = Field(default_factory=list, description="Camera names.")
    time_from: float | None = Field(None, description="Seconds of video.")
    time_to: float | None = Field(None, description="Seconds of video.")
    last_s: float | None = Field(None, description="Only the last N seconds of each video.")
    clock_from: str | None = Field(None, description="Wall-clock HH:MM.")
    clock_to: str | None = Field(None, description="Wall-clock HH:MM.")


class MemoryArgs(BaseModel):
    """Arguments of search_memory."""

    text: str = Field(min_length=1, description="What to look for in event descriptions.")


class EventArgs(BaseModel):
    """Arguments of tools about one event."""

    event_id: str = Field(description="An event id returned by search_events or search_memory.")


def _event_row(e: Evidence) -> dict[str, Any]:
    return {"event_id": e.event_id, "type": e.event_type, "video": Path(e.video).name, "camera": e.camera_id,
            "start_s": round(e.start_s, 2), "end_s": round(e.end_s, 2), "confidence": round(e.confidence, 2),
            "text": e.text[:240]}


def _tool_search_events(ctx: AskContext, args: SearchArgs) -> dict[str, Any]:
    fields = args.model_dump()
    if ctx.scope.cameras:  # the model searches within the question's scope, never beyond it
        fields["cameras"] = [c for c in args.cameras if c in ctx.scope.cameras] or list(ctx.scope.cameras)
    plan = QuestionPlan(kind="when", **fields)
    found = ctx.search_events(plan)
    return {"events": [_event_row(e) for e in found[:30]], "total": len(found)}


def _tool_search_memory(ctx: AskContext, args: MemoryArgs) -> dict[str, Any]:
    hits = ctx.search_memory(args.text)
    known = {e.event_id for e in ctx.search_events(QuestionPlan(kind="when"))}  # within the scope only
    return {"events": [{"event_id": h["id"], "distance": h["distance"], "text": (h.get("text") or "")[:240]}
                       for h in hits if h["id"] in known][:20]}


def _tool_sample_keyframes(ctx: AskContext, args: EventArgs) -> dict[str, Any]:
    e = ctx.seen.get(args.event_id)
    if e is None:
        return {"error": f"unknown event {args.event_id}; search first"}
    if not any(Path(k).is_file() for k in e.keyframes):
        e.keyframes = ctx.sample_keyframes(e)
    return {"keyframes": e.keyframes}


def _tool_describe(ctx: AskContext, args: EventArgs) -> dict[str, Any]:
    e = ctx.seen.get(args.event_id)
    if e is None:
        return {"error": f"unknown event {args.event_id}; search first"}
    text, by = ctx.describe(e)
    return {"description": text, "by": by}


ASK_TOOLS: dict[str, Tool] = {
    t.spec.name: t
    for t in (
        Tool(ToolSpec("search_events", "Stored events (alerts) matching filters, in the question's scope.", SearchArgs), _tool_search_events),  # type: ignore[arg-type]
        Tool(ToolSpec("search_memory", "Events whose descriptions are nearest to a text (semantic search).", MemoryArgs), _tool_search_memory),  # type: ignore[arg-type]
        Tool(ToolSpec("sample_keyframes", "Keyframe images of one event (anomaly-focused sampling).", EventArgs), _tool_sample_keyframes),  # type: ignore[arg-type]
        Tool(ToolSpec("describe", "What happens in one event: the vision model's account or the stored explanation.", EventArgs), _tool_describe),  # type: ignore[arg-type]
    )
}


class Findings(BaseModel):
    """The Analyst's output: the events that answer the question."""

    model_config = ConfigDict(extra="ignore")

    event_ids: list[str] = Field(default_factory=list, description="Ids of the events that answer the question; empty if none.")
    notes: str = Field("", description="What you checked, briefly.")


# ----------------------------------------------------------------------------- rule answers
RECOGNISED = ("running, falling, fighting, loitering, intrusion into restricted zones, vehicles in pedestrian "
              "areas, abandoned objects, anything unusual for a camera, and the objects its detector names "
              "(people, bicycles, cars, dogs, bags, ...)")
EXAMPLES = '"When did someone fall?", "How many vehicles drove onto the plaza?", "Was there anything unusual after 3 pm?"'


def _cannot_recognise(words: list[str]) -> str:
    return f"Vigil cannot recognise {' or '.join(words)}, so it did not look for {'it' if len(words) == 1 else 'them'}."


def rule_answer(plan: QuestionPlan, evidence: list[Evidence], scope: AskScope, descriptions: dict[str, str] | None = None,
                unchecked: list[str] | None = None, notes: list[str] | None = None) -> AskAnswer:
    """The rule policy's answer from the evidence.

    Three kinds of "no": a question that names nothing to look for (says what can be asked), one
    about things Vigil cannot recognise (says so; it did not look), and one it searched and
    found nothing for. Things it cannot recognise are named even when the rest is answered.

    Args:
        descriptions: event id -> what happened, for "what" questions.
        unchecked: words of the question no event text could confirm (said in the answer).
        notes: what could not be read of the footage asked about (said in the answer).
    """
    what = _what_phrase(plan)
    where = scope.describe()
    tail = "".join(" " + n for n in notes or [])
    if not plan.understood:
        return AskAnswer(answer=f"Vigil could not tell what to look for in that question. It can be asked about {RECOGNISED}, "
                                f"with times and cameras, e.g. {EXAMPLES}.", found=False, confidence=0.5)
    if plan.unknown_words and not plan.event_types and not plan.any_anomaly and not plan.objects:
        return AskAnswer(answer=f"{_cannot_recognise(plan.unknown_words)} It recognises {RECOGNISED}.{tail}", found=False,
                         confidence=0.8, unrecognised=list(plan.unknown_words))
    unknown = (" " + _cannot_recognise(plan.unknown_words)) if plan.unknown_words else ""
    if not evidence:
        return AskAnswer(answer=f"Not found: no {what} in {where}.{unknown}{tail}", found=False, intervals=[], citations=[],
                         confidence=0.85, unrecognised=list(plan.unknown_words))
    cites = [e.citation() for e in evidence]
    intervals = [(round(e.start_s, 2), round(e.end_s, 2)) for e in evidence]
    conf = round(min(0.95, sum(e.confidence for e in evidence) / len(evidence)), 3)
    items = "; ".join(f"{_item_name(e)} from {e.start_s:.1f} s to {e.end_s:.1f} s "
                      f"in {Path(e.video).name} (camera {e.camera_id})" for e in evidence[:10])
    more = f" and {len(evidence) - 10} more" if len(evidence) > 10 else ""
    if plan.kind == "count":
        text = f"{len(evidence)}: {items}{more}."
    elif plan.kind == "whether":
        text = f"Yes: {items}{more}."
    elif plan.kind == "which_cameras":
        cams = sorted({e.camera_id for e in evidence})
        text = f"{'Camera' if len(cams) == 1 else 'Cameras'} {', '.join(cams)}: {items}{more}."
    elif plan.kind == "what":
        parts = [(descriptions or {}).get(e.event_id or "", e.text) for e in evidence[:5]]
        text = " ".join(f"[{Path(e.video).name} {e.start_s:.1f}-{e.end_s:.1f} s] {p}" for e, p in zip(evidence, parts))
    else:
        text = f"{items}{more}."
    if unchecked:
        text += f" (Vigil could not check '{' '.join(unchecked)}' in these events.)"
    text += unknown + tail
    return AskAnswer(answer=text[:4000], found=True, intervals=intervals, citations=cites, confidence=conf,
                     unrecognised=list(plan.unknown_words))


def _item_name(e: Evidence) -> str:
    """How an answer names one piece of evidence: the event's type, or the tracked object."""
    if e.track_id is not None:
        return f"a {e.event_type} (tracked object {e.track_id})"
    return ANOMALY_TYPES.get(e.event_type, e.event_type)


def _what_phrase(plan: QuestionPlan) -> str:
    if plan.event_types or plan.objects:
        kinds = [ANOMALY_TYPES[t].lower() + " events" for t in plan.event_types]
        return " or ".join(kinds + plan.objects)
    if plan.terms:
        return "events involving " + " ".join(plan.terms)
    return "anomalies"


# ----------------------------------------------------------------------------- the graph
class AskState(TypedDict, total=False):
    """The ask graph's state."""

    question: str
    plan: dict[str, Any]
    evidence: list[dict[str, Any]]
    descriptions: dict[str, str]
    unchecked: list[str]
    answer: dict[str, Any]
    answered_by: Annotated[list[str], operator.add]
    trace: Annotated[list[str], operator.add]


class AskGraph:
    """Observer (plan) -> Analyst (evidence) -> Decider (answer), see the module docstring."""

    def __init__(self, ctx: AskContext, backend: ChatBackend | None = None, cameras: list[str] | None = None,
                 plan_overrides: dict[str, Any] | None = None, zones: list[str] | None = None) -> None:
        self.ctx = ctx
        self.backend = backend
        self.cameras = cameras or []
        self.zones = zones or []  # the cameras' zone names, spotted in questions
        self.plan_overrides = {k: v for k, v in (plan_overrides or {}).items() if v is not None}
        g = StateGraph(AskState)
        g.add_node("observer", self._observer)
        g.add_node("analyst", self._analyst)
        g.add_node("decider", self._decider)
        # the Observer plans every question; the nodes route onward with Command
        g.add_edge(START, "observer")
        self.graph = g.compile()

    def _observer(self, state: AskState) -> Command[Literal["analyst"]]:
        plan = parse_question(state["question"], self.cameras, self.zones)
        by, trace = "rules", [f"observer rules: {plan.describe()}"]
        if self.backend is not None:
            msgs = load_prompt("ask_observer").messages(question=state["question"], types=", ".join(ANOMALY_TYPES),
                                                        cameras=", ".join(self.cameras) or "unknown",
                                                        objects=", ".join([*load_object_words()[0], *load_object_words()[1]]))
            run = run_agent(self.backend, msgs, QuestionPlan, validate=_known_types)
            trace = [f"observer: {t}" for t in run.trace]
            if run.output is not None:
                plan, by = run.output, self.backend.label
            else:
                trace.append(f"observer fell back to rules ({run.error})")
        if self.plan_overrides:  # explicit flags (--since/--until) beat what the question implies
            plan = plan.model_copy(update=self.plan_overrides)
        # the edge: planned -> the Analyst gathers evidence
        return Command(update={"plan": plan.model_dump(), "answered_by": [by], "trace": trace}, goto="analyst")

    def _analyst(self, state: AskState) -> Command[Literal["decider"]]:
        plan = QuestionPlan.model_validate(state["plan"])
        ctx, trace = self.ctx, []
        for video in ctx.scope.videos:
            if ctx.scope.cameras:
                res = ctx.scan_video(video, ctx.scope.cameras[0])
                trace.append(f"analyst: scan_video({Path(video).name}) -> "
                             f"{'scanned' if res.get('scanned') else 'indexed already' if res.get('indexed') else res.get('error')}")
        if not plan.understood:
            evidence = []
            trace.append("analyst: the question names nothing Vigil can look for; nothing to search")
        elif plan.unknown_words and not plan.event_types and not plan.any_anomaly and not plan.objects:
            # only activities Vigil has no type for: no stored event can answer, so none is offered
            evidence = []
            trace.append(f"analyst: no event type for {', '.join(plan.unknown_words)}; nothing to search")
        elif plan.objects and not plan.event_types:
            # what the detector names: the tracked objects answer, not the alerts
            evidence = []
            trace.append("analyst: the question is about objects; tracks answer it")
        else:
            evidence = ctx.search_events(plan)
            trace.append(f"analyst: search_events({plan.describe()}) -> {len(evidence)}")
        # objects asked about are looked up among the tracks; an object-presence type (a vehicle)
        # too, when no event of it was raised (a camera without a pedestrian zone raises none)
        tracks: list[Evidence] = []
        presence = any(t in OBJECT_TYPES for t in plan.event_types)
        if plan.understood and ((plan.objects and not plan.event_types) or (presence and not evidence)):
            tracks = ctx.search_tracks(plan)
            trace.append(f"analyst: search_tracks({', '.join(plan.objects + plan.event_types)}) -> {len(tracks)}")
        unchecked: list[str] = []
        if plan.terms and evidence:
            # words that are not types (colours, objects) narrow the events by their text, when
            # any event text speaks of them; otherwise they cannot be checked and the answer says so
            hits = ctx.search_memory(" ".join(plan.terms))
            ids = {h["id"] for h in hits if all(t in (h.get("text") or "").lower() for t in plan.terms)}
            narrowed = [e for e in evidence if e.event_id in ids or all(t in e.text.lower() for t in plan.terms)]
            trace.append(f"analyst: search_memory({' '.join(plan.terms)}) -> {len(narrowed)} of {len(evidence)}")
            if narrowed:
                evidence = narrowed
            else:
                unchecked = list(plan.terms)
        by = "rules"
        if self.backend is not None and plan.understood and not (plan.unknown_words and not plan.event_types and not plan.any_anomaly):
            msgs = load_prompt("ask_analyst").messages(question=state["question"], cameras=", ".join(self.cameras) or "unknown")
            case = {"footage": ctx.scope.describe(), "search_plan": plan.describe()}
            run = run_agent(self.backend, msgs, Findings, ctx=ctx, tools=ASK_TOOLS,
                            validate=lambda f: _seen_ids(f, ctx), case_file=case)
            trace += [f"analyst: {t}" for t in run.trace]
            if run.output is not None:
                evidence, by = [ctx.seen[i] for i in dict.fromkeys(run.output.event_ids)], self.backend.label
            else:
                trace.append(f"analyst fell back to rules ({run.error})")
        evidence = sorted(evidence + tracks, key=lambda e: (e.camera_id, e.video, e.start_s))
        for i, e in enumerate(evidence):  # every citation shows a frame: re-sample keyframes that are gone
            if e.track_id is not None and i >= 10:
                continue  # tracks past the ten an answer lists keep no frames (a crowd has hundreds)
            if not any(Path(k).is_file() for k in e.keyframes):
                e.keyframes = ctx.sample_keyframes(e)
                trace.append(f"analyst: sample_keyframes({e.event_id}) -> {len(e.keyframes)}")
        descriptions: dict[str, str] = {}
        if plan.kind == "what":
            for e in evidence[:5]:
                descriptions[e.event_id or ""], described_by = ctx.describe(e)
                trace.append(f"analyst: describe({e.event_id}) by {described_by}")
        update = {"evidence": [e.__dict__ for e in evidence], "descriptions": descriptions, "unchecked": unchecked,
                  "answered_by": [by], "trace": trace}
        # the edge: evidence gathered -> the Decider answers
        return Command(update=update, goto="decider")

    def _decider(self, state: AskState) -> Command[Literal["__end__"]]:
        plan = QuestionPlan.model_validate(state["plan"])
        evidence = [Evidence(**e) for e in state.get("evidence", [])]
        answer = rule_answer(plan, evidence, self.ctx.scope, state.get("descriptions"), state.get("unchecked"),
                             notes=self.ctx.coverage_notes())
        by, trace = "rules", []
        if self.backend is not None and evidence:
            events = [{"event_id": e.event_id, "type": e.event_type, "start_s": round(e.start_s, 1), "end_s": round(e.end_s, 1),
                       "video": Path(e.video).name, "camera": e.camera_id, "text": e.text[:300]} for e in evidence[:20]]
            msgs = load_prompt("ask_decider").messages(question=state["question"])
            case = {"search_plan": plan.describe(), "stored_events": events}
            run = run_agent(self.backend, msgs, AskAnswer, validate=lambda a: _grounded(a, evidence), case_file=case)
            trace = [f"decider: {t}" for t in run.trace]
            if run.output is not None:
                answer, by = run.output, self.backend.label
                answer = answer.model_copy(update={"answer": clean_text(answer.answer, 4000) or answer.answer})
            else:
                trace.append(f"decider fell back to rules ({run.error})")
        # what Vigil cannot recognise is said whoever answered, and never confused with "none found"
        if plan.unknown_words:
            answer = answer.model_copy(update={"unrecognised": list(plan.unknown_words)})
            if evidence and by != "rules":
                answer = answer.model_copy(update={"answer": answer.answer + " " + _cannot_recognise(plan.unknown_words)})
        # the edge: answered -> done
        return Command(update={"answer": answer.model_dump(), "answered_by": [by], "trace": trace}, goto=END)

    def ask(self, question: str) -> tuple[AskAnswer, AskState]:
        """Answer ``question``; returns the answer and the graph's final state (plan, evidence, trace)."""
        state: AskState = self.graph.invoke({"question": question, "answered_by": [], "trace": []})
        return AskAnswer.model_validate(state["answer"]), state


def roles(state: AskState) -> dict[str, str]:
    """Who did each role's work in a finished ask run: ``rules`` or the model's label."""
    by = list(state.get("answered_by") or [])
    by += ["rules"] * (3 - len(by))
    return {"observer": by[0], "analyst": by[1], "decider": by[2]}


def _seen_ids(findings: Findings, ctx: AskContext) -> None:
    """Reject findings that name events no tool returned."""
    unknown = [i for i in findings.event_ids if i not in ctx.seen]
    if unknown:
        raise ValueError(f"event ids {unknown} were not returned by search_events or search_memory")


def _known_types(plan: QuestionPlan) -> None:
    unknown = [t for t in plan.event_types if t not in ANOMALY_TYPES]
    if unknown:
        raise ValueError(f"unknown event types {unknown}; use some of {list(ANOMALY_TYPES)}")
    classes, groups = load_object_words()
    strange = [o for o in plan.objects if o not in classes and o not in groups]
    if strange:
        raise ValueError(f"unknown objects {strange}; use detector classes or groups such as bicycle, dog, wheeled")


def _grounded(answer: AskAnswer, evidence: list[Evidence]) -> None:
    """Reject an answer whose intervals or citations are not in the evidence."""
    ids = {e.event_id for e in evidence}
    for c in answer.citations:
        if c.event_id not in ids:
            raise ValueError(f"citation {c.event_id!r} is not one of the evidence events")
    for a, b in answer.intervals:
        if not any(a <= e.end_s + 1.0 and b >= e.start_s - 1.0 for e in evidence):
            raise ValueError(f"interval [{a}, {b}] matches no evidence event")


# ----------------------------------------------------------------------------- scope and bounds
def check_scope_flags(*, video: str | None, camera: str | None, all_cameras: bool) -> None:
    """Raise with one line when ``--all`` comes with ``--video`` or ``--camera`` (needs no store)."""
    if all_cameras and (video or camera):
        raise ConfigError("--all asks about every camera; leave out --video and --camera")


def resolve_scope(store: Store, *, video: str | None = None, camera: str | None = None, all_cameras: bool = False,
                  fitted: list[str] | None = None) -> AskScope:
    """What a question is about, from ``--video`` / ``--camera`` / ``--all``; raises with one line if it cannot be.

    Args:
        fitted: cameras with a profile (they may scan a video that is not indexed yet).
    """
    check_scope_flags(video=video, camera=camera, all_cameras=all_cameras)
    fitted = fitted or []
    rows = store.videos()
    known = sorted({r["camera_id"] for r in rows} | set(fitted))
    if camera is not None and camera not in known:
        raise UnknownCameraError(f"unknown camera {camera!r} (known: {', '.join(known) or 'none yet'}; fit one with vigil fit)")
    if video is not None:
        if local_exists(video):
            check_local_source(video)  # a FIFO or device is refused before anything opens it
            video = identify_source(video).key  # the store keys videos by resolved path
        under = sorted({r["camera_id"] for r in rows if same_source(r["source"], video)})
        if camera is not None:
            if camera not in under and camera not in fitted:
                raise ConfigError(f"{video} is not indexed for camera {camera!r} and that camera has no profile to scan it")
            if camera not in under and not Path(video).exists() and "://" not in video:
                raise ConfigError(f"{video}: video not found")
            return AskScope(videos=[video], cameras=[camera])
        if not under:
            if not Path(video).exists() and "://" not in video:
                raise ConfigError(f"{video}: video not found")
            raise ConfigError(f"{video} is not indexed yet; add --camera NAME to scan it with that camera's profile")
        return AskScope(videos=[video], cameras=under)
    if camera is not None:
        return AskScope(cameras=[camera])
    if not rows:
        raise ConfigError("nothing is indexed yet: run vigil watch first, or ask about a video with --video V --camera C")
    return AskScope(all=True)


def parse_bound(text: str, flag: str) -> dict[str, Any]:
    """A ``--since`` / ``--until`` value as plan fields.

    Seconds of video: ``90``, ``90s``, ``2m``, ``1m30s``. Wall-clock time: ``15:00``, ``3pm``,
    ``3:30 pm`` (needs videos indexed with a start time).
    """
    t = text.strip().lower()
    key_s, key_c = ("time_from", "clock_from") if flag == "--since" else ("time_to", "clock_to")
    m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?", t)
    if t and m and (m.group(1) or m.group(2)):
        return {key_s: float(m.group(1) or 0) * 60 + float(m.group(2) or 0)}
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", t)
    if m and (m.group(2) or m.group(3)):
        h, mnt = int(m.group(1)), int(m.group(2) or 0)
        if m.group(3) == "pm" and h < 12:
            h += 12
        if m.group(3) == "am" and h == 12:
            h = 0
        if h <= 23 and mnt <= 59:
            return {key_c: f"{h:02d}:{mnt:02d}"}
    raise ConfigError(f"{flag} {text}: expected seconds of video (90, 90s, 2m, 1m30s) or a time of day (15:00, 3pm)")
