"""Scoring answers to questions about footage against ground truth (``vigil eval ask``).

A question set (``eval/ask_questions.yaml``) names a scope (one test video, one camera, or all
footage) and an expectation that is checked against ``gt.json``, never against Vigil's own
reading of the question:

- ``intervals_of: TYPE``: found, and every cited interval overlaps a true TYPE event of its video;
- ``found_of: TYPE`` (with an optional ``window: [a, b]`` in seconds of video, ``last: N``
  seconds, or ``clock: [HH:MM, HH:MM]``): found exactly when such an event exists in scope, and
  then at least one citation overlaps it;
- ``found: false``: a negative, answered "not found";
- ``count_of: TYPE``: the answer cites exactly as many events as the truth has;
- ``cameras_of: TYPE``: the cited cameras are exactly those whose footage has such events.

``TYPE`` may be ``any``. Which camera saw which video and when each video started (for
wall-clock questions) are given by :class:`Footage`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vigil.core.errors import DataError
from vigil.core.safeyaml import TooLargeError, read_text_capped, safe_load
from vigil.core.schemas import ANOMALY_TYPES, VideoTruth

QUESTIONS_FILE = Path(__file__).with_name("ask_questions.yaml")
#: the largest question file read (the shipped one is under 10 KB)
MAX_QUESTIONS_BYTES = 1 << 20


class Scope(BaseModel):
    """What a question is asked about: one of a test video (name without .mp4), a camera, all."""

    model_config = ConfigDict(extra="forbid")

    video: str | None = None
    camera: str | None = None
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> Scope:
        if sum([self.video is not None, self.camera is not None, self.all]) != 1:
            raise ValueError("a scope is exactly one of video, camera or all: true")
        return self


class Expect(BaseModel):
    """What a right answer looks like (exactly one of the first five keys)."""

    model_config = ConfigDict(extra="forbid")

    intervals_of: str | None = None
    found_of: str | None = None
    found: Literal[False] | None = None
    count_of: str | None = None
    cameras_of: str | None = None
    window: tuple[float | None, float | None] | None = None
    last: float | None = Field(None, gt=0)
    clock: tuple[str | None, str | None] | None = None

    @model_validator(mode="after")
    def _one(self) -> Expect:
        keys = [k for k in ("intervals_of", "found_of", "found", "count_of", "cameras_of") if getattr(self, k) is not None]
        if len(keys) != 1:
            raise ValueError("an expectation has exactly one of intervals_of, found_of, found, count_of, cameras_of")
        kind = getattr(self, keys[0])
        if isinstance(kind, str) and kind != "any" and kind not in ANOMALY_TYPES:
            raise ValueError(f"unknown type {kind!r}; use any or one of {', '.join(ANOMALY_TYPES)}")
        return self

    @property
    def check(self) -> str:
        return next(k for k in ("intervals_of", "found_of", "found", "count_of", "cameras_of") if getattr(self, k) is not None)


class AskQuestion(BaseModel):
    """One question of the set."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=3)
    scope: Scope
    expect: Expect


def load_questions(path: str | Path = QUESTIONS_FILE) -> list[AskQuestion]:
    """Read and validate a question set; one clear line if it is broken."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: question file not found")
    try:
        raw = safe_load(read_text_capped(path, MAX_QUESTIONS_BYTES))
    except TooLargeError as exc:
        raise DataError(f"{path}: {exc}; a question set is a few kilobytes") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: expected a list of questions")
    out = []
    for i, item in enumerate(raw, 1):
        try:
            out.append(AskQuestion.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise DataError(f"{path}: question {i}: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
    return out


@dataclass
class Footage:
    """The indexed test videos: their truth, camera and wall-clock start."""

    truth: dict[str, VideoTruth]
    camera_of: dict[str, str]  # video name -> camera
    start_of: dict[str, datetime] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # video name -> path as indexed

    def videos(self, scope: Scope) -> list[str]:
        if scope.video is not None:
            return [scope.video] if scope.video in self.camera_of else []
        if scope.camera is not None:
            return [v for v, c in self.camera_of.items() if c == scope.camera]
        return list(self.camera_of)

    def events(self, scope: Scope, expect: Expect, kind: str) -> list[tuple[str, float, float, str]]:
        """True events ``(video, start, end, type)`` in scope that meet the expectation's time limits."""
        out = []
        for v in self.videos(scope):
            truth = self.truth[v]
            duration = truth.n_frames / truth.fps
            for start, end, typ in truth.events:
                if kind != "any" and typ != kind:
                    continue
                if not _in_window(expect, start, end, duration, self.start_of.get(v)):
                    continue
                out.append((v, start, end, typ))
        return out


def _in_window(expect: Expect, start: float, end: float, duration: float, t0: datetime | None) -> bool:
    lo, hi = expect.window or (None, None)
    if expect.last is not None:
        lo, hi = max(0.0, duration - expect.last), duration
    if lo is not None and end < lo:
        return False
    if hi is not None and start > hi:
        return False
    if expect.clock is not None:
        if t0 is None:
            return False
        a, b = t0 + timedelta(seconds=start), t0 + timedelta(seconds=end)
        c_from, c_to = expect.clock
        if c_from and b < _at(a, c_from):
            return False
        if c_to and a >= _at(a, c_to):
            return False
    return True


def _at(day: datetime, hhmm: str) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return day.replace(hour=h, minute=m, second=0, microsecond=0)


@dataclass
class Judged:
    """One question, its answer and the verdict."""

    question: str
    check: str
    right: bool
    expected: str
    got: str
    seconds: float
    negative: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def judge(q: AskQuestion, answer: dict[str, Any], footage: Footage, seconds: float = 0.0) -> Judged:
    """Whether ``answer`` (an ``AskAnswer`` as a dict) is right for ``q``."""
    e = q.expect
    check = e.check
    kind = getattr(e, check) if check != "found" else "any"
    truth = footage.events(q.scope, e, kind) if check != "found" else []
    cites = answer.get("citations") or []
    found = bool(answer.get("found"))
    got = f"found={found}, {len(cites)} citation(s)"

    def overlaps(c: dict[str, Any]) -> bool:
        name = Path(c["video"]).stem
        return any(v == name and c["start_s"] <= t1 and c["end_s"] >= t0 for v, t0, t1, _ in truth)

    if check == "found":
        right, expected, negative = not found, "not found", True
    elif check == "found_of":
        want = bool(truth)
        right = found == want and (not want or any(overlaps(c) for c in cites))
        expected, negative = f"found={want}", not want
    elif check == "intervals_of":
        right = bool(truth) and found and bool(cites) and all(overlaps(c) for c in cites)
        expected = "intervals overlapping " + ", ".join(f"{v} {a:.1f}-{b:.1f}" for v, a, b, _ in truth)
        negative = not truth
    elif check == "count_of":
        n = len({c.get("event_id") or (c["video"], c["start_s"]) for c in cites}) if found else 0
        right, expected, got, negative = n == len(truth), f"{len(truth)} event(s)", f"{n} event(s)", not truth
    else:  # cameras_of
        want_cams = sorted({footage.camera_of[v] for v, *_ in truth})
        got_cams = sorted({c["camera_id"] for c in cites}) if found else []
        right, expected, got, negative = want_cams == got_cams, f"cameras {want_cams}", f"cameras {got_cams}", not truth
    return Judged(q.q, check, right, expected, got, round(seconds, 3), negative)


@dataclass
class AskReport:
    """``vigil eval ask`` results."""

    judged: list[Judged]
    index_seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return sum(j.right for j in self.judged) / max(len(self.judged), 1)

    @property
    def negatives_right(self) -> tuple[int, int]:
        neg = [j for j in self.judged if j.negative]
        return sum(j.right for j in neg), len(neg)

    def to_dict(self) -> dict[str, Any]:
        times = [j.seconds for j in self.judged] or [0.0]
        by_check: dict[str, list[bool]] = {}
        for j in self.judged:
            by_check.setdefault(j.check, []).append(j.right)
        ok, n = self.negatives_right
        return {
            "questions": len(self.judged),
            "right": sum(j.right for j in self.judged),
            "accuracy": round(self.accuracy, 4),
            "by_check": {k: {"right": sum(v), "of": len(v)} for k, v in sorted(by_check.items())},
            "negatives": {"right": ok, "of": n},
            "answer_seconds": {"median": round(statistics.median(times), 3), "max": round(max(times), 3)},
            "index_seconds": round(self.index_seconds, 1),
            "rows": [j.to_dict() for j in self.judged],
        }


def format_ask_report(report: AskReport) -> str:
    """The report as text: totals, then the questions answered wrongly."""
    d = report.to_dict()
    lines = [f"questions {d['questions']}   right {d['right']}   accuracy {d['accuracy']:.1%}",
             f"negatives answered 'not found': {d['negatives']['right']}/{d['negatives']['of']}",
             f"answer time: median {d['answer_seconds']['median']:.2f} s, max {d['answer_seconds']['max']:.2f} s "
             "(in-process, indexed footage)",
             "", f"{'check':<14}{'right':>6}{'of':>5}"]
    lines += [f"{k:<14}{v['right']:>6}{v['of']:>5}" for k, v in d["by_check"].items()]
    wrong = [j for j in report.judged if not j.right]
    if wrong:
        lines += ["", "wrong:"]
        lines += [f"  {j.question}\n    expected {j.expected}; got {j.got}" for j in wrong]
    return "\n".join(lines)
