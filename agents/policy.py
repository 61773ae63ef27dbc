"""The rule policy: deterministic answers for every node, from the same tool calls.

This is the embedded default backend, and the fallback whenever a language model is down,
slow, or answers something that does not validate. It makes the same tool calls an LLM agent
would and renders the explanation from the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.rules import ordinary_traffic
from agents.state import (
    AnalystReport,
    Decision,
    Explanation,
    KeyframeArgs,
    NoArgs,
    ObserverDecision,
    RollbackArgs,
)
from agents.tools import (
    ToolContext,
    classify,
    describe,
    memory_lookup,
    rollback_check,
    sample_keyframes,
)
from vigil.core.schemas import ANOMALY_TYPES

#: seconds before the detector's start that a rule's own onset may lie (the rules also see this lead-up)
ONSET_LEAD_S = 3.0

WHY = {
    "running": "People here walk; moving this fast suggests flight, pursuit or an emergency.",
    "falling": "A person who goes down and stays down may be hurt and need help.",
    "fighting": "People striking or grappling with each other is violence.",
    "loitering": "Lingering this long where people normally pass through can precede theft or tampering.",
    "intrusion": "Nobody is allowed inside this zone.",
    "vehicle": "Vehicles do not belong in this pedestrian area; it endangers people on foot.",
    "abandoned_object": "An unattended object left behind in a public place must be checked.",
}





def worth_a_model(ctx: ToolContext) -> bool:
    """Triage before any model is asked: some rule sees something, or the detector is sure of
    something that is not just passing traffic.

    Candidates that are neither (the occasional restless moment of normal footage) are judged
    by the rules alone, so model calls follow real incidents, not footage.
    """
    if not ctx.classification and ctx.facts is None:
        classify(ctx, NoArgs())
    strongest = max((e.confidence for e in ctx.classification), default=0.0)
    det = ctx.camera.detection
    if strongest >= det.triage_confidence:
        return True
    # a strong score with no rule evidence, unless it is only traffic passing where vehicles belong
    return ctx.event.peak_score >= det.unknown_alert_score and traffic_only(ctx) is None


@dataclass(frozen=True)
class Detection:
    """A known anomaly type the rules or the type head call, with their confidence."""

    kind: str
    confidence: float
    by: str  # rules | type head


def protected_detection(ctx: ToolContext, classified: dict[str, Any] | None = None) -> Detection | None:
    """The strongest known type the rules or the type head call at or above the camera's
    ``confidence_threshold``, or ``None``: what the safety floor keeps a model from dropping.

    Args:
        classified: the ``classify`` tool's result, if it ran already.
    """
    result = classified if classified is not None else classify(ctx, NoArgs())
    threshold = ctx.camera.confidence_threshold
    found = [Detection(r["type"], float(r["confidence"]), "rules") for r in result.get("rules") or []]
    head = result.get("type_head") or {}
    if head.get("known_type"):
        found.append(Detection(head["known_type"], float(head.get("confidence", 0.0)), "type head"))
    found = [d for d in found if d.kind in ANOMALY_TYPES and d.confidence >= threshold]
    return max(found, key=lambda d: d.confidence) if found else None


def observer(ctx: ToolContext) -> tuple[ObserverDecision, dict[str, Any]]:
    """Escalate sustained or strong candidates, drop short weak blips."""
    check = rollback_check(ctx, RollbackArgs(seconds=max(4.0, ctx.event.duration_s)))
    e = ctx.event
    strong = e.peak_score >= 0.8
    long_enough = e.duration_s >= ctx.camera.min_event_s
    escalate = long_enough and (check["continuous"] or strong)
    if escalate:
        reason = (f"score stayed unusual for {e.duration_s:.1f} s (peak {e.peak_score:.2f}, "
                  f"{check['share_above_low']:.0%} of recent windows above the low threshold)")
    else:
        reason = f"a blip: {e.duration_s:.1f} s long, peak {e.peak_score:.2f}, not continuous"
    return ObserverDecision(escalate=escalate, reason=reason), {"rollback_check": check}


def analyst(ctx: ToolContext) -> tuple[AnalystReport, dict[str, Any]]:
    """Call every tool in order; propose the strongest type the evidence supports."""
    results: dict[str, Any] = {
        "rollback_check": rollback_check(ctx, RollbackArgs(seconds=max(4.0, ctx.event.duration_s))),
        "memory_lookup": memory_lookup(ctx, NoArgs()),
        "sample_keyframes": sample_keyframes(ctx, KeyframeArgs()),
        "describe": describe(ctx, NoArgs()),
        "classify": classify(ctx, NoArgs()),
    }
    return report_from_results(ctx, results), results


def report_from_results(ctx: ToolContext, results: dict[str, Any]) -> AnalystReport:
    """The rule policy's reading of tool results (also used to fill gaps in an LLM's run)."""
    cls = results.get("classify") or {}
    rules = cls.get("rules") or []
    head = cls.get("type_head") or {}
    kind, conf, why, onset = "unknown", 0.0, "", None
    if rules:
        kind, conf, why = rules[0]["type"], float(rules[0]["confidence"]), rules[0]["evidence"]
        onset = rules[0].get("onset_s")
    if head.get("known_type") and float(head.get("confidence", 0.0)) > conf:
        kind, conf = head["known_type"], float(head["confidence"])
        why = f"the type head gives {kind} probability {conf:.2f}" + (f"; rules: {why}" if why else "")
    described = (results.get("describe") or {}).get("description", "")
    continuous = bool((results.get("rollback_check") or {}).get("continuous", True))
    evidence = "; ".join(x for x in (why, described) if x) or "no specific evidence beyond the anomaly score"
    return AnalystReport(proposed_type=kind, confidence=round(min(conf, 1.0), 3), evidence=evidence[:2000],
                         continuous=continuous, onset_s=onset)


def decider(ctx: ToolContext, report: AnalystReport, memory: dict[str, Any] | None = None) -> Decision:
    """Alert on a confident known type, or on a strong continuous unknown that is not just passing traffic; otherwise suppress."""
    e = ctx.event
    threshold = ctx.camera.confidence_threshold
    familiar = bool(((memory or {}).get("engram") or {}).get("familiar"))
    if report.proposed_type != "unknown" and report.confidence >= threshold:
        verdict, kind, conf = "alert", report.proposed_type, report.confidence
    elif report.continuous and e.peak_score >= ctx.camera.detection.unknown_alert_score and not familiar and traffic_only(ctx) is None:
        verdict, kind, conf = "unknown_anomaly", "unknown", round(e.peak_score * 0.8, 3)
    else:
        verdict, kind, conf = "suppress", report.proposed_type, report.confidence
    return Decision(verdict=verdict, event_type=kind, confidence=conf, explanation=explain(ctx, report, kind, familiar))


def traffic_only(ctx: ToolContext) -> str | None:
    """What explains the event when every alert-worthy window is passing traffic (see
    :func:`agents.rules.ordinary_traffic`), else ``None``."""
    strong = [w for w in ctx.event.windows if w.score >= ctx.camera.detection.unknown_alert_score]
    facts = ctx.scene()
    notes = [ordinary_traffic(facts, ctx.camera.zones, w.region(), w.ts_start, w.ts_end) for w in strong]
    return notes[0] if notes and all(notes) else None


def explain(ctx: ToolContext, report: AnalystReport, kind: str, familiar: bool = False) -> Explanation:
    """What, when, where and why, from the evidence."""
    e = ctx.event
    name = ANOMALY_TYPES.get(kind, "An unusual activity")
    what = f"{name}: {report.evidence.split('; ')[0]}." if kind in ANOMALY_TYPES else (
        f"Unusual activity that matches no known type: {report.evidence.split('; ')[0]}.")
    start = onset_of(ctx, report)
    # evidence that began after the detector's event closed lasts at least until the last frame seen
    end = e.end_s if start < e.end_s else max([f.t for f in ctx.frames], default=start)
    when = f"From {start:.1f} s to {max(end, start):.1f} s of the video (most unusual at {e.peak_time_s:.1f} s)."
    x1, y1, x2, y2 = e.region()
    zones = [z.name for z in ctx.camera.zones if z.contains((x1 + x2) / 2, y2) or z.contains((x1 + x2) / 2, (y1 + y2) / 2)]
    where = (f"In the {_place((x1 + x2) / 2, (y1 + y2) / 2)} of the frame (box {x1:.2f}, {y1:.2f} to {x2:.2f}, {y2:.2f})"
             + (f", zone {', '.join(repr(z) for z in zones)}." if zones else "."))
    why = WHY.get(kind, "The activity is unlike anything in this camera's normal footage.")
    why += (f" The detector scored it {e.peak_score:.2f}, where 0.5 is rarer than 999 in 1000 of this "
            f"camera's normal moments.")
    if familiar:
        why += " Similar patterns were seen before and judged normal."
    return Explanation(what=what[:600], when=when, where=where[:300], why=why[:600])


def alert_onset(event_start: float, evidence_onset: float | None, now: float) -> float:
    """The alert's onset: the evidence's own start when it has a plausible one, else the detector's.

    The detector's start is rolled back through stored windows and often includes the lead-up
    (two people walking towards each other before they fight, a person walking before a fall);
    the rules time the act itself (see :mod:`agents.rules`), so their onset wins when it lies
    between :data:`ONSET_LEAD_S` before the detector's start and now.
    """
    if evidence_onset is None or not (event_start - ONSET_LEAD_S <= evidence_onset <= now):
        return event_start
    return max(0.0, float(evidence_onset))


def onset_of(ctx: ToolContext, report: AnalystReport) -> float:
    """:func:`alert_onset` for the current event and report."""
    now = max([f.t for f in ctx.frames], default=ctx.event.end_s)
    return alert_onset(ctx.event.start_s, report.onset_s, max(now, ctx.event.end_s))


def _place(x: float, y: float) -> str:
    v = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else "middle"
    h = "left" if x < 1 / 3 else "right" if x > 2 / 3 else "centre"
    if v == "middle" and h == "centre":
        return "centre"
    if v == "middle":
        return f"{h} side"
    return f"{v} {h}" if h != "centre" else f"{v} centre"
