"""Understanding a question about footage: the plan the ask graph follows.

:class:`QuestionPlan` says what kind of answer is wanted (when, whether, how many, which
cameras, what happened), which anomaly types and words to look for, which stretch of time and
which cameras, which objects the detector names. :func:`parse_question` builds it with rules
(synonyms, the object words of ``prompts/objects.yaml``, time expressions);
a language model may build it instead, and its plan is validated the same way. What a question
asks about that Vigil has no word for at all (:func:`unrecognised_words`: "did anyone *swim*",
"was there a *fire*") is named in the answer as something it cannot recognise, never searched.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prompts import load_object_words, load_question_words
from vigil.core.schemas import ANOMALY_TYPES

AskKind = Literal["when", "whether", "count", "which_cameras", "what"]

#: words that name each anomaly type in questions
SYNONYMS: dict[str, tuple[str, ...]] = {
    "running": ("run", "runs", "ran", "running", "runner", "sprint", "sprinted", "sprinting", "rush", "rushed",
                "rushing", "dash", "dashed", "race", "raced", "racing", "fast", "hurry", "hurried", "flee", "fled"),
    "falling": ("fall", "falls", "fell", "fallen", "falling", "collapse", "collapsed", "collapsing", "trip", "tripped",
                "slip", "slipped", "lying", "lay", "down on the ground", "on the ground", "faint", "fainted"),
    "fighting": ("fight", "fights", "fought", "fighting", "brawl", "punch", "punched", "punching", "hit", "hitting",
                 "assault", "assaulted", "scuffle", "attack", "attacked", "violence", "violent", "struggle", "scuffling"),
    "loitering": ("loiter", "loitered", "loitering", "linger", "lingered", "lingering", "hang around", "hanging around",
                  "hung around", "idle", "waited around", "stayed long", "stood around"),
    "intrusion": ("intrusion", "intrude", "intruded", "intruder", "trespass", "trespassed", "trespassing", "restricted",
                  "keep-out", "keep out", "forbidden", "off-limits", "off limits", "unauthorized", "unauthorised",
                  "break in", "broke in", "entered the restricted"),
    "vehicle": ("vehicle", "vehicles", "car", "cars", "truck", "van", "drive", "drove", "driving", "driven", "motorbike"),
    "abandoned_object": ("abandoned", "unattended", "left behind", "left a", "left an", "bag", "bags", "package",
                         "parcel", "suitcase", "luggage", "backpack", "object left", "dropped", "leave behind"),
}
ANY_ANOMALY = ("anomaly", "anomalies", "anomalous", "unusual", "suspicious", "incident", "incidents", "alert", "alerts",
               "strange", "abnormal", "odd", "weird")

_NUM = r"(\d+(?:\.\d+)?)"
_UNIT = r"(seconds?|secs?|s|minutes?|mins?|m)\b"


class QuestionPlan(BaseModel):
    """What to look for and what to answer."""

    model_config = ConfigDict(extra="ignore")

    kind: AskKind = Field(description="when | whether | count | which_cameras | what")
    event_types: list[str] = Field(default_factory=list, description="Anomaly types asked about; empty = any.")
    terms: list[str] = Field(default_factory=list, description="Other words to search event texts for.")
    any_anomaly: bool = Field(False, description="The question is about anomalies in general.")
    time_from: float | None = Field(None, description="Start of the time range, seconds of video.")
    time_to: float | None = Field(None, description="End of the time range, seconds of video.")
    last_s: float | None = Field(None, description="'in the last N seconds': resolved against each video's length.")
    clock_from: str | None = Field(None, description="Wall-clock start HH:MM.")
    clock_to: str | None = Field(None, description="Wall-clock end HH:MM.")
    objects: list[str] = Field(default_factory=list, description="Detector classes (bicycle, dog, ...) or class "
                               "groups (wheeled, animal, carried) asked about; answered from the tracked objects.")
    cameras: list[str] = Field(default_factory=list, description="Cameras named in the question.")
    zones: list[str] = Field(default_factory=list, description="Camera zones named in the question (walkway, "
                             "keep-out); only what happened there answers it.")
    unknown_words: list[str] = Field(default_factory=list, description="Event words Vigil has no type for.")
    understood: bool = Field(True, description="False when the question names nothing to look for.")

    def describe(self) -> str:
        """The plan in a few words."""
        what = ", ".join(self.event_types + self.objects) or (
            "any anomaly" if self.any_anomaly else "anything matching " + " ".join(self.terms))
        when = ""
        if self.time_from is not None or self.time_to is not None:
            when = f" between {self.time_from or 0:g} s and {'the end' if self.time_to is None else f'{self.time_to:g} s'}"
        if self.last_s is not None:
            when = f" in the last {self.last_s:g} s"
        if self.clock_from or self.clock_to:
            when = f" between {self.clock_from or '00:00'} and {self.clock_to or '24:00'}"
        cams = f" on {', '.join(self.cameras)}" if self.cameras else ""
        where = f" in zone {', '.join(repr(z) for z in self.zones)}" if self.zones else ""
        return f"{self.kind}: {what}{where}{when}{cams}"


#: where a question's own subject is: the word after a subject ("did anyone *swim*"), after
#: "there" ("was there a *fire*") or after an article ("had a *gun*")
_ASKED = re.compile(
    r"\b(?:anyone|anybody|someone|somebody|people|persons?|he|she|they|who|men|women|man|woman|children|kids?)"
    r"(?: (?:did|do|does|was|were|is|are|has|have|had|get|got|try|tried|to|ever|just|really))* ([a-z][a-z-]+)"
    r"|\bthere (?:(?:a|an|any|some|the) )?([a-z][a-z-]+)|\b(?:a|an) ([a-z][a-z-]+)")


@cache
def _known_words() -> frozenset[str]:
    """Every word Vigil understands in a question: type synonyms, anomaly and general words,
    the object words of ``prompts/objects.yaml``, colours, and the function and presence words
    of ``prompts/question_words.yaml``."""
    classes, groups = load_object_words()
    phrases = [w for words in SYNONYMS.values() for w in words] + [*ANY_ANOMALY, *_GENERAL, *_COLOURS]
    # an object's name counts as a whole ("fire hydrant" does not make "fire" known)
    phrases += [w for table in (classes, groups) for words in table.values() for w in words if " " not in w]
    words = {t for phrase in phrases for t in re.findall(r"[a-z][a-z-]*", phrase)}
    function, presence = load_question_words()
    return frozenset(words | {w + "s" for w in words} | function | presence)


@cache
def _object_phrases() -> re.Pattern[str]:
    """The object words of several words ("fire hydrant"), longest first, as one pattern."""
    classes, groups = load_object_words()
    phrases = sorted({w for table in (classes, groups) for words in table.values() for w in words if " " in w},
                     key=len, reverse=True)
    return re.compile(r"(?<![a-z])(?:" + "|".join(re.escape(p) for p in phrases) + r")s?(?![a-z])")


def unrecognised_words(q: str, known: frozenset[str] | None = None) -> list[str]:
    """The words a lower-cased, space-padded question asks about that Vigil has no anomaly type,
    detector class or other meaning for ("did anyone *swim*", "was there a *fire*"), in order."""
    known = known if known is not None else _known_words()
    q = _object_phrases().sub("object", q)  # objects named in several words are known as a whole
    out: list[str] = []
    for m in _ASKED.finditer(q):
        word = next(g for g in m.groups() if g)
        if word not in known and word.rstrip("s") not in known and word not in out:
            out.append(word)
    return out


#: anomaly types that are an object's presence, and the class group that is that object (an
#: abandoned object is not: people carry bags; only the rule that saw it left can say so)
OBJECT_TYPES = {"vehicle": "wheeled"}


def object_words(q: str) -> list[str]:
    """Detector classes and class groups (``prompts/objects.yaml``) a lower-cased, space-padded
    question names, in the question's order; longer words are matched first (so "fire hydrant"
    is not "fire")."""
    classes, groups = load_object_words()
    found: dict[str, int] = {}
    taken = q
    pairs = [(w, name) for table in (classes, groups) for name, words in table.items() for w in words]
    for word, name in sorted(pairs, key=lambda p: -len(p[0])):
        m = re.search(r"(?<![a-z])" + re.escape(word) + r"s?(?![a-z])", taken)
        if m:
            found.setdefault(name, m.start())
            taken = taken[:m.start()] + " " * (m.end() - m.start()) + taken[m.end():]
    return sorted(found, key=found.__getitem__)


def parse_question(question: str, cameras: list[str] | None = None, zones: list[str] | None = None) -> QuestionPlan:
    """Build a plan from a question with rules (no model).

    Args:
        question: the question in plain English.
        cameras: names of the cameras Vigil knows (to spot them in the question).
        zones: names of the cameras' zones (to spot them: "on the walkway").
    """
    q = " " + re.sub(r"\s+", " ", question.lower()).strip() + " "
    kind = _kind(q)
    types = [t for t, words in SYNONYMS.items() if any(_has(q, w) for w in words)]
    # "left" alone is too common; a bag word is what makes it an abandoned object
    objects = object_words(q)
    any_anomaly = any(_has(q, w) for w in ANY_ANOMALY) and not types
    unknown = unrecognised_words(q)
    terms = [w for w in re.findall(r"[a-z]{3,}", q) if w in _COLOURS]
    general = any(_has(q, w) for w in _GENERAL) or kind == "what"
    plan = QuestionPlan(kind=kind, event_types=types, terms=terms, objects=objects, unknown_words=unknown,
                        any_anomaly=any_anomaly or (not types and not unknown and not objects))
    _times(q, plan)
    plan.cameras = [c for c in (cameras or []) if _names_camera(q, c.lower())]
    plan.zones = [z for z in (zones or []) if _has(q, z.lower())]
    timed = any(v is not None for v in (plan.time_from, plan.time_to, plan.last_s, plan.clock_from, plan.clock_to))
    # a question that names no type, nothing unusual, no activity, no time and no camera is not
    # understood: answering it with every stored event would be a guess. General words ("alerts",
    # "anything") count only in something that reads as a question or a request, not in text
    # such as "'; DROP TABLE alerts; --"
    asks = "?" in question or _ASK_CUE.search(q) is not None
    plan.understood = bool(types or objects or unknown or terms or timed or plan.cameras or ((any_anomaly or general) and asks))
    return plan


#: how questions and requests begin ("when did", "is there", "show me", "how many", ...)
_ASK_CUE = re.compile(r"^ (when|what|which|where|who|whom|whose|how|why|is|was|were|are|am|did|does|do|has|have|had|can|"
                      r"could|would|will|should|any|anything|show|list|find|tell|give|count|describe|summari[sz]e|"
                      r"search|look|were there|was there|please)\b")


#: words that ask about activity in general ("did anything happen?")
_GENERAL = ("happen", "happened", "happens", "happening", "occur", "occurred", "occurring", "going on", "anything",
            "something", "anyone", "someone", "anybody", "somebody", "event", "events", "activity", "activities",
            "describe", "summary", "summarise", "summarize", "show me")


_COLOURS = {"red", "blue", "green", "yellow", "white", "black", "grey", "gray", "orange", "purple", "brown", "navy"}


def _names_camera(q: str, name: str) -> bool:
    """Whether the question names camera ``name``: "camera north", "north camera", "cameras east and north".

    A bare word is not enough: "the plaza" is a place, "camera plaza" a camera.
    """
    n = re.escape(name)
    return re.search(r"\bcam(?:era)?s?(?: [a-z0-9_.-]+(?:,| and| or))* " + n + r"(?![a-z0-9_])", q) is not None or \
        re.search(r"(?<![a-z0-9_])" + n + r"(?:'s)? cam(?:era)?s?\b", q) is not None


def _has(q: str, word: str) -> bool:
    return re.search(r"(?<![a-z])" + re.escape(word) + r"(?![a-z])", q) is not None


def _kind(q: str) -> AskKind:
    if re.search(r"\bhow (many|often)\b|\bnumber of\b|\bcount\b|\bhow many times\b", q):
        return "count"
    if re.search(r"\b(which|what) cameras?\b|\bon which camera\b|\bwhere (was|were|did)\b.*\bcamera", q):
        return "which_cameras"
    if re.search(r"\bwhen\b|\bat what time\b|\bwhat time\b|\bat which (moment|time|point)\b|\bfind the moment\b|\bshow me when\b", q):
        return "when"
    if re.search(r"\bwhat happen|\bdescribe\b|\bwhat (is|was) going on\b|\bsummar", q):
        return "what"
    if re.search(r"^ (is|was|were|are|did|does|do|has|have|had|can|could|any)\b|\bis there\b|\bwere there\b|\bdid (anyone|someone|somebody|a)\b", q):
        return "whether"
    return "when"


def _seconds(value: str, unit: str | None) -> float:
    v = float(value)
    return v * 60 if unit and unit.startswith("m") else v


def _clock(text: str) -> str | None:
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?", text.strip())
    if not m:
        return None
    h, mnt, ampm = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if ampm and ampm.startswith("p") and h < 12:
        h += 12
    if ampm and ampm.startswith("a") and h == 12:
        h = 0
    if h > 23 or mnt > 59:
        return None
    return f"{h:02d}:{mnt:02d}"


def _times(q: str, plan: QuestionPlan) -> None:
    """Fill the plan's time range from expressions in the question."""
    clock = r"(\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\d{1,2}:\d{2})"
    m = re.search(r"between " + clock + r" and " + clock, q)
    if m:
        plan.clock_from, plan.clock_to = _clock(m.group(1)), _clock(m.group(2))
        return
    m = re.search(r"\bafter " + clock, q)
    if m:
        plan.clock_from = _clock(m.group(1))
    m = re.search(r"\bbefore " + clock, q)
    if m:
        plan.clock_to = _clock(m.group(1))
    if plan.clock_from or plan.clock_to:
        return
    m = re.search(r"\bin the first (?:" + _NUM + r" )?" + _UNIT, q)
    if m:
        plan.time_from, plan.time_to = 0.0, _seconds(m.group(1) or "1", m.group(2))
        return
    m = re.search(r"\bin the (?:last|final) (?:" + _NUM + r" )?" + _UNIT, q)
    if m:
        plan.last_s = _seconds(m.group(1) or "1", m.group(2))
        return
    m = re.search(r"\bbetween " + _NUM + r"(?: ?" + _UNIT + r")? and " + _NUM + r" ?" + _UNIT, q)
    if m:
        unit = m.group(4)
        plan.time_from, plan.time_to = _seconds(m.group(1), m.group(2) or unit), _seconds(m.group(3), unit)
        return
    m = re.search(r"\b(?:after|from) " + _NUM + r" ?" + _UNIT, q)
    if m:
        plan.time_from = _seconds(m.group(1), m.group(2))
    m = re.search(r"\b(?:before|until|by) " + _NUM + r" ?" + _UNIT, q)
    if m:
        plan.time_to = _seconds(m.group(1), m.group(2))


def type_names() -> list[str]:
    """The anomaly types a plan may name."""
    return list(ANOMALY_TYPES)
