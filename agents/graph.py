"""The alert graph: Observer -> Analyst -> Decider, a LangGraph state machine.

Only candidate events enter it; the per-window loop never calls a model, and candidates that
no rule can name and the detector is not sure of are dismissed by the rules before any model is
asked (:func:`agents.policy.worth_a_model`). Each node is an LLM-backed agent with its own
prompt (``prompts/``) and tools when a chat backend is configured, and the rule policy
otherwise; any reply that fails validation (after one retry), or a model that is down or slow,
is replaced by the rule policy's answer, and the state records which produced each node's
output (``explained_by``).

A safety floor bounds what a model may do: it may add, re-type or explain, but it cannot drop
(Observer) or suppress (Decider) a detection the rules alert on by themselves, with a known type
the rules or the type head call at or above the camera's ``confidence_threshold``. Where it
tries, the rules' answer stands and the disagreement is recorded (``disagreements``, shown on
the alert as ``model_disagreed`` and ``model_reason``). The pure-rules verdict is kept too
(``rules_verdict``), so a model's suppression is never learned as normal by the memories.
Everything a model reads that is not an instruction (the candidate, file names, tool results,
scene and VLM descriptions, earlier model notes) travels in the case file, as data.

The graph is compiled with a SQLite checkpointer, one thread per event id: a run interrupted
between nodes resumes where it stopped, and an event already decided is not decided again.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from agents import policy
from agents.llm_step import RULES, model_or_rules
from agents.state import AlertState, AnalystReport, Decision, ObserverDecision
from agents.tools import TOOLS, ToolContext
from vigil.core.errors import StoreError
from vigil.core.llm import ChatBackend, clean_text
from vigil.core.schemas import ANOMALY_TYPES
from vigil.core.store import BUSY_TIMEOUT_S, use_wal

log = logging.getLogger(__name__)


def candidate_data(ctx: ToolContext) -> dict[str, Any]:
    """The candidate as data for a model's case file: timing, scores, where, what the detector measured."""
    e = ctx.event
    peak = e.peak_window
    data: dict[str, Any] = {
        "camera": e.camera_id, "source": Path(e.source).name, "start_s": round(e.start_s, 2),
        "end_s": round(e.end_s, 2), "duration_s": round(e.duration_s, 2), "peak_score": round(e.peak_score, 3),
        "peak_time_s": round(e.peak_time_s, 2), "region_xyxy": [round(v, 3) for v in e.region()],
        "window_scores": [[round(w.center, 1), round(w.score, 3)] for w in e.windows[:40]],
    }
    if peak.features:
        top = sorted(peak.features.items(), key=lambda kv: -abs(kv[1]))[:6]
        data["detector_measurements_at_unusual_cell"] = {k: round(v, 3) for k, v in top}
    return data


def summarise(ctx: ToolContext) -> str:
    """The candidate as the agents read it: timing, scores, where, what the detector measured."""
    e = ctx.event
    scores = ", ".join(f"{w.center:.1f}s:{w.score:.2f}" for w in e.windows[:40])
    x1, y1, x2, y2 = e.region()
    peak = e.peak_window
    feats = ""
    if peak.features:
        top = sorted(peak.features.items(), key=lambda kv: -abs(kv[1]))[:6]
        feats = "; detector measurements at the unusual cell: " + ", ".join(f"{k}={v:.2f}" for k, v in top)
    return (f"camera {e.camera_id}, source {Path(e.source).name}, from {e.start_s:.1f} s to {e.end_s:.1f} s "
            f"({e.duration_s:.1f} s), peak score {e.peak_score:.2f} at {e.peak_time_s:.1f} s, region "
            f"({x1:.2f}, {y1:.2f})-({x2:.2f}, {y2:.2f}); window scores: {scores}{feats}")


class AlertGraph:
    """Compiles and runs the graph for candidate events.

    Args:
        backend: chat model for the agents, or ``None`` for the rule policy.
        checkpoint_path: SQLite file for LangGraph checkpoints.
    """

    def __init__(self, backend: ChatBackend | None, checkpoint_path: str | Path) -> None:
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.backend = backend
        self._contexts: dict[str, ToolContext] = {}
        Path(checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(checkpoint_path), check_same_thread=False, timeout=BUSY_TIMEOUT_S)
            use_wal(self._conn)
            # the state holds only plain values: a checkpoint naming any other type (a file planted
            # in the data dir that would have it call os.system, say) is read as data, never run
            self.checkpointer = SqliteSaver(self._conn, serde=JsonPlusSerializer(allowed_msgpack_modules=None))
            self.checkpointer.setup()
            self._conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{checkpoint_path} is not a usable checkpoint database ({exc}); move it aside to start "
                             "afresh (stored alerts are kept in vigil.db and are not raised twice)") from None
        self.graph = self._build().compile(checkpointer=self.checkpointer)

    def close(self) -> None:
        """Close the checkpoint database."""
        self._conn.close()

    # ------------------------------------------------------------------ nodes
    def _ctx(self, state: AlertState) -> ToolContext:
        return self._contexts[state["event"]["event_id"]]

    def _observer(self, state: AlertState) -> Command[Literal["analyst", "__end__"]]:
        ctx = self._ctx(state)
        decision, extra = policy.observer(ctx)
        rules_escalate = decision.escalate
        by, trace, disagreements = RULES, [f"observer rules: {decision.reason}"], []
        if self.backend is not None and not policy.worth_a_model(ctx):
            # triage: nothing a rule can name and a modest score; not worth a model call
            decision = ObserverDecision(escalate=False, reason=f"triage: no rule evidence and peak {ctx.event.peak_score:.2f}; "
                                        "dismissed without asking the model")
            trace = [f"observer rules: {decision.reason}"]
        elif self.backend is not None:
            rules_decision = decision
            step = model_or_rules(self.backend, "observer", "observer", ObserverDecision, lambda: rules_decision,
                                  variables={"camera": ctx.event.camera_id, "threshold": ctx.camera.threshold},
                                  case_file={"candidate": candidate_data(ctx)})
            decision, by, trace = step.value, step.by, step.trace
            floor = policy.protected_detection(ctx) if step.by_model and rules_escalate and not decision.escalate else None
            if floor is not None:
                # the safety floor: a model may not drop what the rules confidently detect
                note = f"the Observer model would drop it ({clean_text(decision.reason, 300)})"
                disagreements.append(note)
                decision = ObserverDecision(escalate=True, reason=f"escalated by the safety floor: the rules see {floor.kind} "
                                            f"at {floor.confidence:.2f}, at or above the camera's confidence threshold")
                by = RULES
                trace.append(f"observer: safety floor: {note}; escalated")
        update = {"observer": {**decision.model_dump(), **extra}, "explained_by": [by], "trace": trace,
                  "disagreements": disagreements}
        # the edge: escalate -> the Analyst looks closer; drop -> done
        return Command(update=update, goto="analyst" if decision.escalate else END)

    def _analyst(self, state: AlertState) -> Command[Literal["decider"]]:
        ctx = self._ctx(state)
        by = RULES
        if self.backend is None:
            report, results = policy.analyst(ctx)
            trace = ["analyst rules: " + ", ".join(results)]
        else:
            case = {"candidate": candidate_data(ctx), "observer_note": state.get("observer", {}).get("reason", "")}
            # the model's report goes with its own tools' results; the rules' with theirs
            step = model_or_rules(self.backend, "analyst", "analyst", AnalystReport, lambda: policy.analyst(ctx),
                                  variables={"camera": ctx.event.camera_id, "types": ", ".join(ANOMALY_TYPES)},
                                  take=lambda report, results: (report, results), ctx=ctx, tools=TOOLS, case_file=case)
            (report, results), by, trace = step.value, step.by, step.trace
            # the Decider and the alert need the keyframes and the classification either way
            if "sample_keyframes" not in results:
                results["sample_keyframes"] = TOOLS["sample_keyframes"].run(ctx, TOOLS["sample_keyframes"].spec.args())
            if "classify" not in results:
                results["classify"] = TOOLS["classify"].run(ctx, TOOLS["classify"].spec.args())
        update = {"analyst": {**report.model_dump(), "tools": results}, "explained_by": [by], "trace": trace}
        # the edge: evidence gathered -> the Decider judges it
        return Command(update=update, goto="decider")

    def _decider(self, state: AlertState) -> Command[Literal["__end__"]]:
        ctx = self._ctx(state)
        analyst = state["analyst"]
        tools = analyst.get("tools", {})
        report = AnalystReport.model_validate({k: analyst[k] for k in AnalystReport.model_fields})
        memory = tools.get("memory_lookup")
        # the rules' own verdict, from the tools' results alone (no model's report): the floor
        rules_decision = policy.decider(ctx, policy.report_from_results(ctx, tools), memory)
        decision = policy.decider(ctx, report, memory)
        by, trace, disagreements = RULES, [f"decider rules: {decision.verdict} {decision.event_type}"], []
        if self.backend is not None:
            traffic = policy.traffic_only(ctx)
            case = {"candidate": candidate_data(ctx), "analyst_evidence": report.evidence,
                    "analyst_proposal": {"type": report.proposed_type, "confidence": round(report.confidence, 3)}}
            if traffic:
                case["only_passing_traffic_there"] = traffic
            rules_answer = decision
            step = model_or_rules(self.backend, "decider", "decider", Decision, lambda: rules_answer,
                                  variables={"camera": ctx.event.camera_id, "rules": camera_rules(ctx),
                                             "confidence_threshold": ctx.camera.confidence_threshold},
                                  validate=_consistent, case_file=case)
            decision, by, trace = step.value, step.by, step.trace
        if decision.verdict == "suppress" and rules_decision.verdict == "alert" and policy.protected_detection(ctx, tools.get("classify")):
            # the safety floor: what the rules confidently alert on is not suppressed by a model
            # (nor by the rules reading a model's report)
            reason = clean_text(f"{decision.explanation.what} {decision.explanation.why}", 400)
            disagreements.append(f"the {'Decider model' if by != RULES else 'model Analyst report'} would suppress it: {reason}")
            trace.append(f"decider: safety floor: {disagreements[-1]}; the rules' alert stands")
            decision, by = rules_decision, RULES
        update = {"decision": decision.model_dump(), "rules_verdict": rules_decision.verdict, "explained_by": [by],
                  "trace": trace, "disagreements": disagreements}
        # the edge: decided -> done
        return Command(update=update, goto=END)

    def _build(self) -> StateGraph:
        g = StateGraph(AlertState)
        g.add_node("observer", self._observer)
        g.add_node("analyst", self._analyst)
        g.add_node("decider", self._decider)
        # every candidate starts with the Observer; the nodes route onward with Command
        g.add_edge(START, "observer")
        return g

    # ------------------------------------------------------------------ running
    def run(self, ctx: ToolContext, on_step: Callable[[str], None] | None = None) -> AlertState:
        """Run (or resume, or recall) the graph for ``ctx.event``; returns the final state."""
        event_id = ctx.event.event_id
        self._contexts[event_id] = ctx
        config = {"configurable": {"thread_id": event_id}}
        try:
            snapshot = self.graph.get_state(config)
            if snapshot.values and not snapshot.next:
                return snapshot.values  # decided before: do not decide again
            initial: dict[str, Any] | None = None if snapshot.next else {"event": {"event_id": event_id, "summary": summarise(ctx)}}
            for chunk in self.graph.stream(initial, config, stream_mode="updates"):
                if on_step:
                    on_step(", ".join(chunk))
            return self.graph.get_state(config).values
        finally:
            self._contexts.pop(event_id, None)


def camera_rules(ctx: ToolContext) -> str:
    """The camera's rules as the Decider reads them."""
    cam = ctx.camera
    lines = [f"- alert only on a known type with confidence >= {cam.confidence_threshold}; otherwise "
             f"'unknown_anomaly' when the event is strong and continuous, else 'suppress'",
             f"- events shorter than {cam.min_event_s:g} s are not alerts"]
    for z in cam.zones:
        meaning = {"restricted": "nobody may enter", "loitering": "nobody should linger", "pedestrian": "people only, no vehicles"}[z.kind]
        lines.append(f"- zone '{z.name}' ({z.kind}): {meaning}")
    return "\n".join(lines)


def _consistent(decision: Decision) -> None:
    if decision.verdict == "alert" and decision.event_type == "unknown":
        raise ValueError("an 'alert' needs a known event_type; use verdict 'unknown_anomaly' for unknown ones")
    if decision.verdict == "unknown_anomaly" and decision.event_type != "unknown":
        raise ValueError("verdict 'unknown_anomaly' goes with event_type 'unknown'")
