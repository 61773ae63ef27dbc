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

This module is the graph; what it works on is in :mod:`agents.ask_context` (the scope, the
evidence, the searches), the model's tools in :mod:`agents.ask_tools`, the rule policy's
answers in :mod:`agents.ask_answer`, and ``--video``/``--camera``/``--all`` and
``--since``/``--until`` in :mod:`agents.ask_scope`; their public names are importable from here.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from agents.ask_answer import EXAMPLES, RECOGNISED, cannot_recognise, rule_answer
from agents.ask_context import (
    AskAnswer,
    AskContext,
    AskScope,
    Citation,
    Evidence,
    FrameReader,
    same_source,
)
from agents.ask_scope import check_scope_flags, parse_bound, resolve_scope
from agents.ask_tools import ASK_TOOLS, Findings
from agents.llm_step import RULES, model_or_rules
from agents.question import OBJECT_TYPES, QuestionPlan, parse_question
from prompts import load_object_words
from vigil.core.llm import ChatBackend, clean_text
from vigil.core.schemas import ANOMALY_TYPES

__all__ = ["ASK_TOOLS", "EXAMPLES", "RECOGNISED", "AskAnswer", "AskContext", "AskGraph", "AskScope", "AskState", "Citation",
           "Evidence", "Findings", "FrameReader", "check_scope_flags", "parse_bound", "resolve_scope", "roles", "rule_answer",
           "same_source"]


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
        by, trace = RULES, [f"observer rules: {plan.describe()}"]
        if self.backend is not None:
            rules_plan = plan
            variables = {"question": state["question"], "types": ", ".join(ANOMALY_TYPES),
                         "cameras": ", ".join(self.cameras) or "unknown",
                         "objects": ", ".join([*load_object_words()[0], *load_object_words()[1]])}
            step = model_or_rules(self.backend, "observer", "ask_observer", QuestionPlan, lambda: rules_plan,
                                  variables=variables, validate=_known_types)
            plan, by, trace = step.value, step.by, step.trace
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
        by = RULES
        if self.backend is not None and plan.understood and not (plan.unknown_words and not plan.event_types and not plan.any_anomaly):
            rules_evidence = evidence
            step = model_or_rules(self.backend, "analyst", "ask_analyst", Findings, lambda: rules_evidence,
                                  variables={"question": state["question"], "cameras": ", ".join(self.cameras) or "unknown"},
                                  take=lambda found, _results: [ctx.seen[i] for i in dict.fromkeys(found.event_ids)],
                                  ctx=ctx, tools=ASK_TOOLS, validate=lambda f: _seen_ids(f, ctx),
                                  case_file={"footage": ctx.scope.describe(), "search_plan": plan.describe()})
            evidence, by = step.value, step.by
            trace += step.trace
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
        by, trace = RULES, []
        if self.backend is not None and evidence:
            events = [{"event_id": e.event_id, "type": e.event_type, "start_s": round(e.start_s, 1), "end_s": round(e.end_s, 1),
                       "video": Path(e.video).name, "camera": e.camera_id, "text": e.text[:300]} for e in evidence[:20]]
            rules_answer = answer
            step = model_or_rules(self.backend, "decider", "ask_decider", AskAnswer, lambda: rules_answer,
                                  variables={"question": state["question"]},
                                  take=lambda a, _results: a.model_copy(update={"answer": clean_text(a.answer, 4000) or a.answer}),
                                  validate=lambda a: _grounded(a, evidence),
                                  case_file={"search_plan": plan.describe(), "stored_events": events})
            answer, by, trace = step.value, step.by, step.trace
        # what Vigil cannot recognise is said whoever answered, and never confused with "none found"
        if plan.unknown_words:
            answer = answer.model_copy(update={"unrecognised": list(plan.unknown_words)})
            if evidence and by != RULES:
                answer = answer.model_copy(update={"answer": answer.answer + " " + cannot_recognise(plan.unknown_words)})
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
