"""The rule policy's answer to a question, from the evidence the Analyst gathered."""

from __future__ import annotations

from pathlib import Path

from agents.ask_context import AskAnswer, AskScope, Evidence
from agents.question import QuestionPlan
from vigil.core.schemas import ANOMALY_TYPES

RECOGNISED = ("running, falling, fighting, loitering, intrusion into restricted zones, vehicles in pedestrian "
              "areas, abandoned objects, anything unusual for a camera, and the objects its detector names "
              "(people, bicycles, cars, dogs, bags, ...)")
EXAMPLES = '"When did someone fall?", "How many vehicles drove onto the plaza?", "Was there anything unusual after 3 pm?"'


def cannot_recognise(words: list[str]) -> str:
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
        return AskAnswer(answer=f"{cannot_recognise(plan.unknown_words)} It recognises {RECOGNISED}.{tail}", found=False,
                         confidence=0.8, unrecognised=list(plan.unknown_words))
    unknown = (" " + cannot_recognise(plan.unknown_words)) if plan.unknown_words else ""
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
