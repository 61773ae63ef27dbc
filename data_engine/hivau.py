"""HIVAU-style hierarchical instruction data from raw annotations (``vigil data build``).

The raw annotation format (HIVAU-70k, one JSON object keyed by video name) holds, per video:
``n_frames``, ``fps``, ``label`` (anomaly names; empty for normal videos), ``events``
(``[start_s, end_s]``), ``clips`` (per event, ``[start_s, end_s]`` each), ``clips_caption``
(per event, one caption per clip), ``events_summary`` / ``video_summary`` (free text) and their
split forms ``events_summary_split`` / ``video_summary_split`` with ``judgement``,
``description`` and (anomalous videos only) ``analysis``. A file may come from anywhere, so a
video's name must be a plain file name (it becomes file names under ``--out`` and ``--videos``)
and every event and clip must lie inside its video.

From it we write three levels of items:

- **clip** level: one ``caption`` item per clip (``<name>_E<k>C<j>.mp4``);
- **event** level: ``judgement``, ``description`` and ``analysis`` per event (``<name>_E<k>.mp4``);
- **video** level: the same three tasks for the whole video (``<name>.mp4``).

Answers are the annotation text verbatim; prompts are drawn from question pools
(``prompts/pools/instructions.yaml``) with a generator seeded by ``--seed`` and the item's own
identity, so a dataset is the same on every run and adding videos does not reshuffle the
others. Normal videos get no analysis item.
"""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prompts import load_pool
from vigil.core.errors import DataError
from vigil.core.files import iter_jsonl
from vigil.core.files import write_jsonl as write_jsonl  # the dataset writer, as callers know it
from vigil.core.paths import name_problem

Level = Literal["clip", "event", "video"]
Task = Literal["caption", "judgement", "description", "analysis"]
TASKS: tuple[Task, ...] = ("caption", "judgement", "description", "analysis")
LEVELS: tuple[Level, ...] = ("clip", "event", "video")
ANSWER_KEY = "anwser"  # the upstream spelling; "answer" is accepted when reading
#: how far past ``n_frames / fps`` a span may end: the official UCF-Crime annotations end up to
#: two frames past their own frame count (frame counts differ by a frame or two between decoders)
END_TOLERANCE_FRAMES = 3


class SummarySplit(BaseModel):
    """A summary in three parts."""

    model_config = ConfigDict(extra="forbid")

    judgement: str = Field(min_length=1, description="Whether an anomaly exists, and its name.")
    description: str = Field(min_length=1, description="What happened, from start to end.")
    analysis: str | None = Field(None, description="Why it counts as an anomaly (anomalous videos only).")


class RawVideo(BaseModel):
    """One video's raw hierarchical annotation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    n_frames: int = Field(ge=1)
    fps: float = Field(gt=0)
    label: list[str]
    events: list[tuple[float, float]]
    clips: list[list[tuple[float, float]]]
    clips_caption: list[list[str]]
    events_summary: list[str]
    video_summary: str
    events_summary_split: list[SummarySplit]
    video_summary_split: SummarySplit

    @model_validator(mode="after")
    def _consistent(self) -> RawVideo:
        n = len(self.events)
        for name in ("clips", "clips_caption", "events_summary", "events_summary_split"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} events")
        for k, (clips, caps) in enumerate(zip(self.clips, self.clips_caption)):
            if len(clips) != len(caps):
                raise ValueError(f"event {k}: {len(clips)} clips but {len(caps)} captions")
        for k, span in enumerate(self.events):
            self._check_span(f"event {k}", span)
        for k, clips in enumerate(self.clips):
            for j, span in enumerate(clips):
                self._check_span(f"event {k} clip {j}", span)
        return self

    def _check_span(self, what: str, span: tuple[float, float]) -> None:
        """A span is cut from the video: it must lie inside it, start before it ends."""
        s, e = span
        duration = self.n_frames / self.fps
        if s < 0:
            raise ValueError(f"{what} starts before the video ({s} s)")
        if e < s:
            raise ValueError(f"{what} ends ({e}) before it starts ({s})")
        if e > duration + END_TOLERANCE_FRAMES / self.fps:
            raise ValueError(f"{what} ends at {e} s, past the end of the video ({duration:.3f} s: "
                             f"{self.n_frames} frames at {self.fps:g} fps)")

    @property
    def anomalous(self) -> bool:
        return bool(self.label)


def load_annotations(path: str | Path) -> dict[str, RawVideo]:
    """Read and validate a raw annotation file; one clear line if it is broken."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or not raw:
        raise DataError(f"{path}: expected an object keyed by video name")
    out = {}
    for name, entry in raw.items():
        why = name_problem(name, subdirs=False)  # the name becomes file names under --out and --videos
        if why:
            raise DataError(f"{path}: video {name!r} {why}; a video's name must be a plain file name")
        try:
            out[name] = RawVideo.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise DataError(f"{path}: video {name!r}: {loc + ': ' if loc else ''}{msg}") from None
    return out


def dump_annotations(videos: dict[str, RawVideo]) -> dict[str, Any]:
    """Annotations as the JSON object they are read from (``analysis`` omitted where absent)."""
    out = {}
    for name, v in videos.items():
        d = v.model_dump(mode="json")
        d["events"] = [list(e) for e in d["events"]]
        d["clips"] = [[list(c) for c in clips] for clips in d["clips"]]
        for split in [*d["events_summary_split"], d["video_summary_split"]]:
            if split.get("analysis") is None:
                split.pop("analysis", None)
        out[name] = d
    return out


def infer_dataset(path: str | Path) -> tuple[str, str]:
    """``(dataset, split)`` from an annotation file name like ``ucf_database_test.json``."""
    stem = Path(path).stem.lower()
    split = next((s for s in ("test", "train", "val") if stem.endswith(s)), "test")
    if stem.startswith("ucf"):
        return "ucf-crime", split
    if stem.startswith("xd"):
        return "xd-violence", split
    return stem.removesuffix(f"_{split}").replace("_database", "").replace("_", "-") or "dataset", split


# ----------------------------------------------------------------------------- items
@dataclass(frozen=True)
class Item:
    """One instruction: a video file at some level, a task, a prompt and the answer."""

    level: Level
    task: Task
    video: str           # the dataset-relative path, e.g. ucf-crime/clips/test/X_E0C1.mp4
    source: str          # the annotated video's name
    span: tuple[float, float]  # seconds of the source video the file covers
    prompt: str
    answer: str

    def test_row(self, item_id: int) -> dict[str, Any]:
        return {"id": item_id, "type": self.level, "task": self.task, "video": self.video,
                "prompt": self.prompt, ANSWER_KEY: self.answer}


def media_path(dataset: str, split: str, name: str, event: int | None = None, clip: int | None = None) -> str:
    """Where an item's video lives inside the dataset: videos/, events/ or clips/.

    Raises:
        DataError: the path would lead outside the dataset (a name or ``--dataset``/``--split``
            with ``..``, an absolute path, ...).
    """
    if event is None:
        path = f"{dataset}/videos/{split}/{name}.mp4"
    elif clip is None:
        path = f"{dataset}/events/{split}/{name}_E{event}.mp4"
    else:
        path = f"{dataset}/clips/{split}/{name}_E{event}C{clip}.mp4"
    why = name_problem(path)
    if why:
        raise DataError(f"media path {path!r} {why}; check the video name, --dataset and --split")
    return path


class PromptPools:
    """Question pools per task, drawn from deterministically by seed and item identity."""

    def __init__(self, pools: dict[str, list[str]] | None = None, seed: int = 0) -> None:
        self.pools = pools or load_pool("instructions")
        self.seed = seed
        for task in TASKS:
            if not self.pools.get(task):
                raise DataError(f"the question pools have no '{task}' questions")

    def draw(self, task: Task, key: str) -> str:
        """A prompt for ``task``; the same ``key`` and seed always give the same one."""
        pool = self.pools[task]
        return pool[random.Random(f"{self.seed}|{task}|{key}").randrange(len(pool))]


def build_items(videos: dict[str, RawVideo], dataset: str, split: str, pools: PromptPools) -> list[Item]:
    """Every item of every video, in file order: video level, then events, then clips."""
    items: list[Item] = []
    for name, v in videos.items():
        duration = v.n_frames / v.fps
        path = media_path(dataset, split, name)
        items += _summary_items("video", path, name, (0.0, duration), v.video_summary_split, v.anomalous, pools)
        for k, (span, split_k) in enumerate(zip(v.events, v.events_summary_split)):
            items += _summary_items("event", media_path(dataset, split, name, k), name, tuple(span), split_k,
                                    v.anomalous, pools)
        for k, (clips, caps) in enumerate(zip(v.clips, v.clips_caption)):
            for j, (span, caption) in enumerate(zip(clips, caps)):
                p = media_path(dataset, split, name, k, j)
                items.append(Item("clip", "caption", p, name, tuple(span), pools.draw("caption", p), caption))
    return items


def _summary_items(level: Level, path: str, name: str, span: tuple[float, float], s: SummarySplit,
                   anomalous: bool, pools: PromptPools) -> list[Item]:
    out = [Item(level, "judgement", path, name, span, pools.draw("judgement", path), s.judgement),
           Item(level, "description", path, name, span, pools.draw("description", path), s.description)]
    if anomalous and s.analysis:
        out.append(Item(level, "analysis", path, name, span, pools.draw("analysis", path), s.analysis))
    return out


def train_rows(items: list[Item]) -> Iterator[dict[str, Any]]:
    """The conversation schema: clips one turn; events and videos judgement -> description -> analysis."""
    groups: dict[str, list[Item]] = {}
    for it in items:
        groups.setdefault(it.video, []).append(it)
    order = {t: i for i, t in enumerate(TASKS)}
    for n, (video, its) in enumerate(groups.items()):
        its = sorted(its, key=lambda i: order[i.task])
        conv = []
        for t, it in enumerate(its):
            conv.append({"from": "human", "value": ("<video>\n" if t == 0 else "") + it.prompt})
            conv.append({"from": "gpt", "value": it.answer})
        yield {"id": n, "type": its[0].level, "video": video, "conversations": conv}


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a test-schema JSONL file (``anwser`` or ``answer``), validated; one clear line if broken."""
    rows = []
    for n, row in iter_jsonl(path):
        if ANSWER_KEY not in row and "answer" in row:
            row[ANSWER_KEY] = row.pop("answer")
        missing = [k for k in ("id", "type", "task", "video", ANSWER_KEY) if k not in row]
        if missing:
            raise DataError(f"{path}:{n}: missing {', '.join(missing)}")
        rows.append(row)
    return rows


def stats(videos: dict[str, RawVideo], items: list[Item]) -> dict[str, Any]:
    """Counts per level and task, and answer lengths in words."""
    per = Counter((i.level, i.task) for i in items)
    lengths: dict[str, list[int]] = {}
    for i in items:
        lengths.setdefault(f"{i.level}/{i.task}", []).append(len(i.answer.split()))
    return {
        "videos": len(videos),
        "anomalous_videos": sum(v.anomalous for v in videos.values()),
        "normal_videos": sum(not v.anomalous for v in videos.values()),
        "events": sum(len(v.events) for v in videos.values()),
        "clips": sum(len(c) for v in videos.values() for c in v.clips),
        "items": len(items),
        "items_per_level": {lv: sum(n for (l2, _), n in per.items() if l2 == lv) for lv in LEVELS},
        "items_per_task": {t: sum(n for (_, t2), n in per.items() if t2 == t) for t in TASKS},
        "items_per_level_task": {f"{lv}/{t}": per[(lv, t)] for lv in LEVELS for t in TASKS if per[(lv, t)]},
        "answer_words": {k: {"mean": round(statistics.fmean(v), 1), "median": statistics.median(v), "max": max(v)}
                         for k, v in sorted(lengths.items())},
    }


def format_stats(s: dict[str, Any]) -> str:
    """The printed summary of :func:`stats`."""
    lines = [f"{s['videos']} videos ({s['anomalous_videos']} anomalous, {s['normal_videos']} normal), "
             f"{s['events']} events, {s['clips']} clips -> {s['items']} items",
             "", f"{'level/task':<20}{'items':>7}{'words mean':>12}{'median':>8}{'max':>6}"]
    for key, n in s["items_per_level_task"].items():
        w = s["answer_words"][key]
        lines.append(f"{key:<20}{n:>7}{w['mean']:>12.1f}{w['median']:>8g}{w['max']:>6}")
    return "\n".join(lines)
