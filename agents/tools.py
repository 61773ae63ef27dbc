"""The Analyst's tools. Each takes validated arguments and returns a JSON-able result.

A :class:`ToolContext` carries what the tools may look at for one candidate event: its scored
windows, the frames of its stretch of video, the camera's zones and motion model, the Engram
and pattern memories, and the vision-language model when there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel

from agents.keyframes import describe_event, save_keyframes
from agents.rules import CellSignals, RuleSettings, TypeEvidence, classify_scene
from agents.state import KeyframeArgs, NoArgs, RollbackArgs
from perception.encoders.motion import MotionEncoder
from perception.events import CandidateEvent, frame_scores
from perception.score.engram import EngramMemory
from perception.score.head import known_type
from perception.source.video import Frame
from perception.track.norms import BlobNorms
from perception.track.scene import (
    DetectedObjects,
    SceneFacts,
    combine_facts,
    object_facts,
    scene_facts,
)
from vigil.core.config import CameraConfig
from vigil.core.llm import ToolSpec, VisionClient
from vigil.core.memory import PatternMemory

log = logging.getLogger(__name__)


@dataclass
class ToolContext:
    """Everything the tools of one candidate event may use."""

    event: CandidateEvent
    frames: list[Frame]
    camera: CameraConfig
    scene_encoder: MotionEncoder | None
    event_dir: Path
    engram: EngramMemory | None = None
    memory: PatternMemory | None = None
    vision: VisionClient | None = None
    rules: RuleSettings = field(default_factory=RuleSettings)
    vector: np.ndarray | None = None  # clip vector of the event's peak window
    detected: DetectedObjects | None = None  # the detector's tracks of the event's stretch
    blob_norms: BlobNorms | None = None  # the camera's normal blob tracks (the blob rules' yardstick)
    # filled as tools run
    keyframes: list[tuple[float, str]] = field(default_factory=list)
    facts: SceneFacts | None = None
    description: str | None = None
    description_by: str = "scene facts"
    classification: list[TypeEvidence] = field(default_factory=list)
    vlm_calls: int = 0

    def scene(self) -> SceneFacts:
        """Scene facts of the event's stretch (computed once): the detector's named objects
        and the foreground blobs none of them explains."""
        if self.facts is None:
            still = self.camera.detection.still_speed
            if self.scene_encoder is None or not self.frames:
                blobs = SceneFacts(self.event.start_s, self.event.end_s)
            else:
                blobs = scene_facts(self.frames, self.scene_encoder, self.camera.zones, fps=self.camera.fps,
                                    still_speed=still)
            if self.detected is None:
                self.facts = blobs
            else:
                t0 = self.frames[0].t if self.frames else self.event.start_s
                named = [f for f in object_facts(self.detected, self.camera.zones, t0=t0, still_speed=still)
                         if f.label != "unknown"]
                self.facts = combine_facts(blobs, named, self.detected.norms)
            self.facts.blob_norms = self.blob_norms
        return self.facts

    def strong_windows(self) -> list[Any]:
        """The event's windows at half its peak or more."""
        peak = max(w.score for w in self.event.windows)
        return [w for w in self.event.windows if w.score >= 0.5 * peak]


@dataclass(frozen=True)
class Tool:
    """A tool: its model-facing spec and the function that runs it."""

    spec: ToolSpec
    run: Callable[[Any, BaseModel], dict[str, Any]]  # (context, validated arguments) -> result


def rollback_check(ctx: ToolContext, args: RollbackArgs) -> dict[str, Any]:
    """Is the anomaly continuous over the last ``seconds``, or a blip?"""
    e = ctx.event
    values = e.smoothed if len(e.smoothed) == len(e.windows) else [w.score for w in e.windows]
    recent = [(w, v) for w, v in zip(e.windows, values) if w.ts_end > e.end_s - args.seconds]
    low = 0.6 * ctx.camera.threshold
    above = [v for _w, v in recent if v >= low]
    share = len(above) / max(len(recent), 1)
    return {
        "seconds": args.seconds,
        "windows": len(recent),
        "share_above_low": round(share, 2),
        "continuous": bool(len(above) >= 2 and share >= 0.5),
        "peak_score": round(max((v for _w, v in recent), default=0.0), 3),
    }


def memory_lookup(ctx: ToolContext, _args: NoArgs) -> dict[str, Any]:
    """What the Engram and the pattern memory remember of this pattern."""
    out: dict[str, Any] = {}
    peak = ctx.event.peak_window
    if ctx.engram is not None and peak.key is not None:
        normal, anomaly = ctx.engram.lookup(peak.key)
        out["engram"] = {"normal": normal, "confirmed_anomaly": anomaly,
                         "familiar": normal >= ctx.engram.min_count and anomaly == 0}
    if ctx.memory is not None and ctx.vector is not None:
        similar = ctx.memory.similar_patterns(ctx.vector, camera_id=ctx.event.camera_id, k=5)
        out["similar_past_events"] = similar
        verdicts = [s["verdict"] for s in similar if s["distance"] < 0.15]
        out["close_matches"] = {v: verdicts.count(v) for v in sorted(set(verdicts))}
    if not out:
        out["note"] = "no memory configured for this camera"
    return out


def sample_keyframes(ctx: ToolContext, args: KeyframeArgs) -> dict[str, Any]:
    """Pick ``n`` frames of the event with ATS and save them as JPEGs."""
    frames = [f for f in ctx.frames if ctx.event.start_s - 1.0 <= f.t <= ctx.event.end_s + 0.5] or ctx.frames
    if not frames:
        return {"keyframes": [], "note": "no frames of this event are available"}
    scores = frame_scores(ctx.event.windows, np.array([f.t for f in frames]), smooth=1)
    ctx.keyframes = save_keyframes(frames, scores, args.n, ctx.event_dir, logger=log)
    return {"keyframes": [{"t": t, "path": p} for t, p in ctx.keyframes]}


def describe(ctx: ToolContext, _args: NoArgs) -> dict[str, Any]:
    """What the keyframes show: the VLM's account, or scene facts from tracking."""
    facts = ctx.scene()

    def images() -> list[np.ndarray]:
        if not ctx.keyframes:
            sample_keyframes(ctx, KeyframeArgs())
        return [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for _, p in ctx.keyframes]

    e = ctx.event
    seen = describe_event(ctx.vision, images, camera=e.camera_id, start_s=e.start_s, end_s=e.end_s, region=e.region(),
                          fallback=facts.text, fallback_by="scene facts", logger=log)
    ctx.vlm_calls += int(seen.asked)
    ctx.description, ctx.description_by = seen.text, seen.by
    if seen.by_vlm:
        return {"description": ctx.description, "by": ctx.description_by, "scene_facts": facts.text()}
    return {"description": ctx.description, "by": ctx.description_by}


def classify(ctx: ToolContext, _args: NoArgs) -> dict[str, Any]:
    """The anomaly type by the rules (scene facts, zones, the detector's cell) and the type head."""
    strong = ctx.strong_windows()
    cells = CellSignals.from_features([w.features for w in strong if w.features], first_t=strong[0].center if strong else None)
    ctx.classification = classify_scene(ctx.scene(), ctx.camera.zones, ctx.rules, region=ctx.event.region(),
                                        cells=cells if cells.windows else None, reach=ctx.event.region(share=0.0))
    if log.isEnabledFor(logging.DEBUG):
        log.debug("classify %.1f-%.1f s, region %s, cells %s: %s", ctx.event.start_s, ctx.event.end_s, ctx.event.region(),
                  cells, [(e.event_type, round(e.confidence, 3)) for e in ctx.classification] or "no rule fired")
    out: dict[str, Any] = {"rules": [{"type": e.event_type, "confidence": round(e.confidence, 3), "evidence": e.evidence,
                                      "onset_s": None if e.start_s is None else round(e.start_s, 2)}
                                     for e in ctx.classification]}
    probs = [w.types for w in strong if w.types]
    if probs:
        mean = {k: float(np.mean([p.get(k, 0.0) for p in probs])) for k in probs[0]}
        kind, p = known_type(mean, ctx.camera.confidence_threshold)
        out["type_head"] = {"probabilities": {k: round(v, 3) for k, v in sorted(mean.items(), key=lambda kv: -kv[1])},
                            "known_type": kind, "confidence": round(p, 3)}
    return out


TOOLS: dict[str, Tool] = {
    t.spec.name: t
    for t in (
        Tool(ToolSpec("rollback_check", "Is the anomaly continuous over the last N seconds, or a one-window blip?", RollbackArgs), rollback_check),  # type: ignore[arg-type]
        Tool(ToolSpec("memory_lookup", "Similar past patterns and how they were judged (Engram and pattern memory).", NoArgs), memory_lookup),  # type: ignore[arg-type]
        Tool(ToolSpec("sample_keyframes", "Pick the most telling frames of the event (anomaly-focused sampling).", KeyframeArgs), sample_keyframes),  # type: ignore[arg-type]
        Tool(ToolSpec("describe", "Describe what the keyframes show: people, vehicles, objects, where and how they move.", NoArgs), describe),  # type: ignore[arg-type]
        Tool(ToolSpec("classify", "Anomaly type suggested by the type rules and the type head, with evidence.", NoArgs), classify),  # type: ignore[arg-type]
    )
}
