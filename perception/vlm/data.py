"""Instruction examples for tuning a VLM: reading them, their frames, and encoding with labels.

An example is one media file (clip, event or whole video) and one or more question/answer turns:
a row of ``instructions_test.jsonl`` (``prompt``/``anwser``) is one turn; a conversation of
``instructions_train.jsonl`` (``<video>`` then judgement -> description -> analysis for events and
videos, a caption for clips) is all of its turns. The conversation is laid out as ``vigil eval
predict`` asks a served model: the system prompt, then the first question's text followed by the
frames as images, then the answer, then any further question and answer. Only the answers' tokens
(and each answer's end-of-turn token) carry labels; everything else is ``-100``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.recording import stored_scores
from perception.sampler import sample_video_frames
from perception.source.video import find_video
from vigil.core.errors import DataError, VideoError
from vigil.core.files import iter_jsonl
from vigil.core.imports import require

log = logging.getLogger(__name__)

LEVELS = ("clip", "event", "video")
#: the order of a conversation's turns (clips have one, a caption)
CONVERSATION_TASKS = ("judgement", "description", "analysis")
IGNORE = -100  # the label of tokens that carry no loss
MEDIA_TAGS = ("<video>", "<image>")

#: (question, number of frames) -> (system prompt, first user text); the predict prompt's renderer
PromptFn = Callable[[str, int], tuple[str, str]]


@dataclass(frozen=True)
class Turn:
    prompt: str
    answer: str


@dataclass(frozen=True)
class Example:
    """One media file and its question/answer turns."""

    key: str                  # "<file name>:<row id>", for messages
    level: str                # clip | event | video
    tasks: tuple[str, ...]    # one per turn
    video: str                # the dataset-relative media path
    turns: tuple[Turn, ...]


def read_examples(paths: str | Path | Sequence[str | Path]) -> list[Example]:
    """Every example of one or more instruction files (either format, also mixed).

    Raises:
        DataError: a missing file, a line that is not JSON, or a row of neither format; the
            message names the file and line.
    """
    out: list[Example] = []
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        if not path.is_file():  # named by its option; a broken line is named by file and line
            raise DataError(f"--instructions {path}: file not found")
        out += [_example(path, n, row) for n, row in iter_jsonl(path)]
    return out


def _example(path: Path, n: int, row: dict[str, Any]) -> Example:
    where = f"{path}:{n}"
    level, video = row.get("type"), row.get("video")
    if level not in LEVELS:
        raise DataError(f"{where}: type must be one of {', '.join(LEVELS)}, got {level!r}")
    if not isinstance(video, str) or not video:
        raise DataError(f"{where}: no video path")
    key = f"{path.name}:{row.get('id', n)}"
    if "conversations" in row:
        conv = row["conversations"]
        if (not isinstance(conv, list) or not conv or len(conv) % 2
                or any(not isinstance(m, dict) or not isinstance(m.get("value"), str) for m in conv)
                or [m.get("from") for m in conv] != ["human", "gpt"] * (len(conv) // 2)):
            raise DataError(f"{where}: conversations must alternate human and gpt turns, starting with human")
        turns = tuple(Turn(_strip_tags(q["value"]), a["value"].strip()) for q, a in zip(conv[::2], conv[1::2]))
        tasks = ("caption",) * len(turns) if level == "clip" else CONVERSATION_TASKS[: len(turns)]
        if len(tasks) < len(turns):
            raise DataError(f"{where}: {len(turns)} turns; an {level} conversation has at most {len(CONVERSATION_TASKS)}")
        return Example(key, level, tuple(tasks), video, turns)
    answer = row.get("anwser", row.get("answer"))
    if not isinstance(row.get("prompt"), str) or not isinstance(answer, str):
        raise DataError(f"{where}: expected prompt and anwser (a test row) or conversations (a train row)")
    return Example(key, level, (str(row.get("task", "")),), video, (Turn(_strip_tags(row["prompt"]), answer.strip()),))


def _strip_tags(text: str) -> str:
    for tag in MEDIA_TAGS:
        text = text.replace(tag, "")
    return text.strip()


class FrameSource:
    """Frames of an example's media file, sampled as ``vigil eval predict`` samples them.

    Args:
        videos: the dataset root the examples' paths are under.
        frames: frames per example.
        sampler: ``ats``, ``uniform`` or ``auto`` (ATS where ``scores`` has the file's CSV,
            uniform otherwise).
        scores: folder of ``vigil score`` CSVs named by the media file's stem.
        width: frame width in pixels before the model's processor resizes them.
        cache: how many files' frames to keep in memory.
    """

    def __init__(self, videos: str | Path, frames: int = 8, sampler: str = "auto", scores: str | Path | None = None,
                 width: int = 448, cache: int = 32) -> None:
        self.videos = Path(videos)
        if not self.videos.is_dir():
            raise DataError(f"--videos {videos}: folder not found (it must hold the examples' media files)")
        if scores is not None and not Path(scores).is_dir():
            raise DataError(f"--scores {scores}: folder not found (vigil score --out DIR writes one)")
        self.n, self.sampler, self.scores, self.width = frames, sampler, scores, width
        self._paths: dict[str, Path | None] = {}
        self._cache: OrderedDict[str, list[np.ndarray]] = OrderedDict()
        self._size = cache
        self.unreadable: set[str] = set()

    def path(self, video: str) -> Path | None:
        """The media file of a dataset-relative path, or None when it is not there."""
        if video not in self._paths:
            self._paths[video] = find_video(self.videos, video)
        return self._paths[video]

    def how(self, video: str) -> str:
        """How the file's frames are picked: ``ats-scores``, ``ats-change`` or ``uniform``."""
        path = self.path(video)
        has_scores = path is not None and self.scores is not None and (Path(self.scores) / f"{path.stem}.csv").is_file()
        if self.sampler == "uniform" or (self.sampler == "auto" and not has_scores):
            return "uniform"
        return "ats-scores" if has_scores else "ats-change"

    def frames(self, video: str) -> list[np.ndarray] | None:
        """The file's frames, or None when it is missing or unreadable (logged once)."""
        if video in self._cache:
            self._cache.move_to_end(video)
            return self._cache[video]
        path = self.path(video)
        if path is None or video in self.unreadable:
            return None
        how = self.how(video)
        try:
            frames = sample_video_frames(path, self.n, "uniform" if how == "uniform" else "ats",
                                         scores=stored_scores(self.scores, path) if how == "ats-scores" else None,
                                         width=self.width)
        except VideoError as exc:
            log.warning("%s; its examples are skipped", exc)
            self.unreadable.add(video)
            return None
        self._cache[video] = frames
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return frames


def messages(example: Example, n_frames: int, prompt: PromptFn) -> list[dict[str, Any]]:
    """The chat of an example: system, then the first question with the frames, then the answers."""
    system, first = prompt(example.turns[0].prompt, n_frames)
    out: list[dict[str, Any]] = [{"role": "system", "content": [{"type": "text", "text": system}]}]
    for k, turn in enumerate(example.turns):
        content = ([{"type": "text", "text": first}] + [{"type": "image"}] * n_frames) if k == 0 else \
            [{"type": "text", "text": turn.prompt}]
        out.append({"role": "user", "content": content})
        out.append({"role": "assistant", "content": [{"type": "text", "text": turn.answer}]})
    return out


def render(processor: Any, chat: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The chat as text by the model's template, and the character span of every answer.

    Each span runs from the end of the template's generation prompt to the end of the answer's
    turn (its end-of-turn token included, trailing whitespace not), so the model learns to stop.

    Raises:
        DataError: the template renders an assistant turn other than after its generation prompt.
    """
    spans = []
    for k, m in enumerate(chat):
        if m["role"] != "assistant":
            continue
        before = processor.apply_chat_template(chat[:k], tokenize=False, add_generation_prompt=True)
        upto = processor.apply_chat_template(chat[: k + 1], tokenize=False)
        if not upto.startswith(before):
            raise DataError("the model's chat template does not render an answer after its generation prompt; "
                            "the loss cannot be limited to the answers")
        spans.append((len(before), len(upto.rstrip())))
    text = processor.apply_chat_template(chat, tokenize=False)
    return text, spans


def encode(processor: Any, example: Example, frames: list[np.ndarray], prompt: PromptFn) -> dict[str, Any]:
    """An example's model inputs (batch of one) with ``labels`` on the answers only.

    The processor expands each image placeholder into the image's tokens; the answers' character
    spans are shifted by that expansion and matched to the tokens' offsets.
    """
    torch = require("torch", "VLM tuning", extra="train")
    text, spans = render(processor, messages(example, len(frames), prompt))
    enc = processor(text=[text], images=list(frames) or None, return_tensors="pt", return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")[0].tolist()
    token = processor.image_token
    grid = {k: enc[k] for k in ("image_grid_thw",) if k in enc}
    growth, at, i = [], text.find(token), 0
    while at >= 0 and i < len(frames):
        growth.append((at, len(processor.replace_image_token(grid, i)) - len(token)))
        at, i = text.find(token, at + len(token)), i + 1

    def shifted(pos: int) -> int:
        return pos + sum(g for p, g in growth if p < pos)

    ids = enc["input_ids"][0]
    labels = torch.full_like(ids, IGNORE)
    for a, b in spans:
        a, b = shifted(a), shifted(b)
        keep = torch.tensor([s >= a and e <= b and e > s for s, e in offsets])
        labels[keep] = ids[keep]
    enc["labels"] = labels.unsqueeze(0)
    return dict(enc)


def collate(items: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Examples encoded one by one, as one right-padded batch (image tensors concatenated)."""
    torch = require("torch", "VLM tuning", extra="train")
    longest = max(int(x["input_ids"].shape[1]) for x in items)
    fill = {"input_ids": pad_id, "labels": IGNORE}
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [x[key] for x in items]
        if all(v.shape == x["input_ids"].shape for v, x in zip(values, items)):  # per-token: pad
            batch[key] = torch.cat([torch.nn.functional.pad(v, (0, longest - v.shape[1]), value=fill.get(key, 0))
                                    for v in values])
        else:
            batch[key] = torch.cat(values)
    return batch
