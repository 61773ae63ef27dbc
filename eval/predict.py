"""Predictions of a vision-language model on instruction items (``vigil eval predict``).

For each item, frames of its video file are sampled with ATS (anomaly-focused: frames where the
picture changes most get more of the budget, the rest of the video keeps some) or uniformly,
and sent with the item's prompt to an OpenAI-compatible VLM. Each prediction is appended to
the output file as soon as it arrives, in the instruction schema with the model's text under
``anwser``, so an interrupted run resumes where it stopped.

ATS needs a per-frame score: the item file's own ``vigil score`` CSV (``<scores>/<stem>.csv``)
when ``scores_dir`` is given and has one, otherwise how much the picture changes between
sampled frames (mean absolute difference of grey levels), which peaks when something moves or
the scene cuts. Frames are picked by :func:`perception.sampler.sample_video_frames`, the same
function ``vigil train vlm`` uses, so a model tuned there is asked about the same kind of frames.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from perception.recording import stored_scores
from perception.sampler import sample_video_frames
from perception.source.video import find_video
from prompts import load_prompt
from vigil.core.errors import DataError, VideoError
from vigil.core.files import iter_jsonl
from vigil.core.llm import LLMError, VisionClient

log = logging.getLogger(__name__)

SamplerName = Literal["ats", "uniform"]


@dataclass
class PredictReport:
    """What a prediction run did."""

    written: int = 0
    resumed: int = 0                     # already in the output file
    missing_videos: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "resumed": self.resumed, "missing_videos": len(self.missing_videos),
                "unreadable": len(self.unreadable), "first_missing": self.missing_videos[:5]}


def predict(
    rows: list[dict[str, Any]],
    videos_dir: str | Path,
    vision: VisionClient,
    out_path: str | Path,
    *,
    sampler: SamplerName = "ats",
    n_frames: int = 8,
    scores_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> PredictReport:
    """Ask the VLM every item not yet in ``out_path`` and append its answers (see the module docstring)."""
    videos_dir, out_path = Path(videos_dir), Path(out_path)
    if not videos_dir.is_dir():
        raise DataError(f"--videos {videos_dir}: folder not found (it must hold the items' video files)")
    done: set[Any] = set()
    if out_path.is_file():
        # a torn last line from an interrupted run is skipped, and its item answered again
        for _, pred in iter_jsonl(out_path, skip_broken=True):
            with contextlib.suppress(KeyError, TypeError):  # no id, or one that is not a value
                done.add(pred["id"])
    report = PredictReport(resumed=sum(1 for r in rows if r["id"] in done))
    todo = [r for r in rows if r["id"] not in done]
    paths = {r["video"]: find_video(videos_dir, r["video"]) for r in todo}
    report.missing_videos = sorted(v for v, p in paths.items() if p is None)
    if todo and len(report.missing_videos) == len(paths):
        raise DataError(f"none of the {len(paths)} item video(s) is under {videos_dir} "
                        f"(looked for {report.missing_videos[0]} and by file name)")
    prompt = load_prompt("predict")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    frames_cache: dict[str, list[np.ndarray]] = {}
    with out_path.open("a", encoding="utf-8") as out:
        for row in todo:
            path = paths[row["video"]]
            if path is None:
                if progress:
                    progress(1)
                continue
            key = f"{path}|{sampler}|{n_frames}"
            if key not in frames_cache:
                frames_cache.clear()  # items of one video come together; keep one video's frames
                try:
                    frames_cache[key] = sample_video_frames(path, n_frames, sampler,
                                                            scores=stored_scores(scores_dir, path))
                except VideoError as exc:
                    log.warning("%s", exc)
                    report.unreadable.append(row["video"])
                    frames_cache[key] = []
            frames = frames_cache[key]
            if not frames:
                if progress:
                    progress(1)
                continue
            system, user = prompt.render(question=str(row.get("prompt", "")), n_frames=len(frames))
            try:
                text = vision.describe(frames, system, user)
            except LLMError as exc:
                raise LLMError(f"{exc}; {report.written} prediction(s) written to {out_path}, run again to resume") from None
            pred = {k: row[k] for k in ("id", "type", "task", "video") if k in row}
            pred.update({"prompt": row.get("prompt", ""), "anwser": " ".join(text.split())})
            out.write(json.dumps(pred, ensure_ascii=False) + "\n")
            out.flush()
            report.written += 1
            if progress:
                progress(1)
    return report

