"""The ask Analyst's tools for a model: search stored events and event texts, keyframes, descriptions.

Each works on an :class:`~agents.ask_context.AskContext` and stays within the question's scope.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.ask_context import AskContext, Evidence
from agents.question import QuestionPlan
from agents.tools import Tool
from vigil.core.llm import ToolSpec
from vigil.core.schemas import ANOMALY_TYPES


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
