"""The FG-CLIP dataset: sampled frames, boxes per frame and region, captions (see the package docstring)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from perception.source.video import open_video
from vigil.core.errors import DataError, VideoError
from vigil.core.paths import inside, name_problem

#: the full frame, the box of a normal video's one region
FULL_FRAME = (0.0, 0.0, 1.0, 1.0)


class BoxInfo(BaseModel):
    """Where a region is on one source frame."""

    model_config = ConfigDict(extra="ignore")

    frame: int = Field(ge=0, description="Source frame index.")
    bbox: tuple[float, float, float, float] = Field(description="Normalised x1, y1, x2, y2.")

    @field_validator("bbox")
    @classmethod
    def _inside(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = (min(1.0, max(0.0, float(c))) for c in v)
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"box {list(v)} is empty (x2 <= x1 or y2 <= y1)")
        return x1, y1, x2, y2


class FGClipEntry(BaseModel):
    """One annotated video."""

    model_config = ConfigDict(extra="ignore")

    video: str = Field(min_length=1)
    global_caption: str = Field(min_length=1)
    region_captions: list[str] = Field(default_factory=list)
    box_infos: list[list[BoxInfo]] = Field(default_factory=list)
    timestamps: list[tuple[float, float]] | tuple[float, float] | None = None

    @property
    def normal(self) -> bool:
        """A video without regions is normal."""
        return not self.region_captions

    def segment(self) -> tuple[float, float] | None:
        """The timestamped stretch (the first, when several): what a normal video loads."""
        ts = self.timestamps
        if not ts:
            return None
        first = ts if isinstance(ts[0], (int, float)) else ts[0]  # type: ignore[index]
        return float(first[0]), float(first[1])  # type: ignore[index]


def load_annotations(path: str | Path) -> list[FGClipEntry]:
    """Read and validate an FG-CLIP annotation file (a JSON list, or JSON lines).

    Raises:
        DataError: missing file, bad JSON, or an entry that does not validate (named by its index).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"annotations not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if text.lstrip().startswith("[") else [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    out = []
    for i, item in enumerate(raw):
        try:
            entry = FGClipEntry.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise DataError(f"{path}: entry {i}: {'.'.join(str(p) for p in err['loc'])}: "
                            f"{err['msg'].removeprefix('Value error, ')}") from None
        why = name_problem(entry.video)  # refused before training starts; _load checks it again
        if why:
            raise DataError(f"{path}: entry {i}: video {entry.video!r} {why}; it must be relative to --videos")
        if len(entry.box_infos) != len(entry.region_captions):
            raise DataError(f"{path}: entry {i} ({entry.video}): {len(entry.region_captions)} region captions but "
                            f"{len(entry.box_infos)} box lists")
        out.append(entry)
    if not out:
        raise DataError(f"{path}: no annotated videos")
    return out


@dataclass
class FGClipSample:
    """One video ready for the model."""

    frames: np.ndarray          # (T, S, S, 3) uint8 RGB, the whole frame resized (boxes stay valid)
    times: np.ndarray           # (T,) seconds of each sampled frame
    boxes: np.ndarray           # (T, R, 4) normalised xyxy
    bbox_mask: np.ndarray       # (T, R) bool: region r is annotated on frame t
    global_caption: str
    region_captions: list[str]  # R of them
    video: str


class FGClipDataset:
    """FG-CLIP samples from annotations and a videos folder (a torch-style map dataset).

    Args:
        entries: the annotations (:func:`load_annotations`).
        videos: the folder the entries' ``video`` paths are relative to.
        frames: frames sampled per video (evenly over what is loaded).
        size: frames are resized to ``size`` x ``size`` (the vision tower's input).
        cache: keep decoded samples in memory (``frames`` x ``size``² x 3 bytes each), so every
            video is decoded once per run however many steps see it.
    """

    def __init__(self, entries: list[FGClipEntry], videos: str | Path, frames: int = 8, size: int = 224,
                 cache: bool = True) -> None:
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        self.entries = entries
        self.root = Path(videos)
        self.n_frames = frames
        self.size = size
        self._cache: dict[int, FGClipSample] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.entries)

    def span(self, entry: FGClipEntry, duration_s: float) -> tuple[float, float]:
        """What is loaded of a video: a normal video's timestamped segment, else all of it."""
        seg = entry.segment() if entry.normal else None
        if seg is None:
            return 0.0, duration_s
        t0, t1 = max(0.0, seg[0]), min(duration_s, seg[1]) if duration_s > 0 else seg[1]
        if t1 <= t0:
            raise DataError(f"{entry.video}: timestamps {list(seg)} lie outside the video (0-{duration_s:.1f} s)")
        return t0, t1

    def __getitem__(self, i: int) -> FGClipSample:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        sample = self._load(i)
        if self._cache is not None:
            self._cache[i] = sample
        return sample

    def _load(self, i: int) -> FGClipSample:
        import cv2

        entry = self.entries[i]
        path = inside(self.root, entry.video, what="video")
        try:
            with open_video(path, fps=1.0, width=64) as probe:
                fps = probe.info.fps or 25.0
                duration = probe.info.duration_s or (probe.info.n_frames or 0) / fps
            t0, t1 = self.span(entry, duration)
            # about twice the frames needed from the span (seeking by the source's fps), then T evenly
            rate = min(fps, max(1.0, 2.0 * self.n_frames / max(t1 - t0, 1e-3)))
            with open_video(path, fps=rate, width=max(64, self.size)) as video:
                got = list(video.frames(t0, t1))
        except VideoError as exc:
            raise DataError(f"{entry.video}: {exc}") from None
        if not got:
            raise DataError(f"{entry.video}: no frames between {t0:.1f} and {t1:.1f} s")
        pick = np.linspace(0, len(got) - 1, self.n_frames).round().astype(int)
        chosen = [got[k] for k in pick]
        frames = np.stack([cv2.resize(f.image, (self.size, self.size), interpolation=cv2.INTER_AREA) for f in chosen])
        indices = np.array([f.index for f in chosen])
        times = np.array([f.t for f in chosen], np.float32)
        if entry.normal:
            captions = [entry.global_caption]
            boxes = np.tile(np.array(FULL_FRAME, np.float32), (self.n_frames, 1, 1))
            mask = np.ones((self.n_frames, 1), bool)
        else:
            captions = list(entry.region_captions)
            boxes = np.zeros((self.n_frames, len(captions), 4), np.float32)
            mask = np.zeros((self.n_frames, len(captions)), bool)
            # a box counts for a sampled frame when annotated within half a sampling step of it
            step = max(1.0, float(np.median(np.diff(indices))) if len(indices) > 1 else 1.0)
            for r, infos in enumerate(entry.box_infos):
                if not infos:
                    continue
                annotated = np.array([b.frame for b in infos])
                for t, idx in enumerate(indices):
                    k = int(np.argmin(np.abs(annotated - idx)))
                    if abs(int(annotated[k]) - int(idx)) <= step / 2:
                        boxes[t, r] = infos[k].bbox
                        mask[t, r] = True
        return FGClipSample(frames, times, boxes, mask, entry.global_caption, captions, entry.video)


def collate_fgclip(samples: list[FGClipSample]) -> dict[str, Any]:
    """A batch: frames ``(B, T, S, S, 3)`` uint8, boxes ``(B, T, R, 4)`` and ``bbox_mask``
    ``(B, T, R)`` padded to the batch's most regions (padding is masked out), the captions."""
    import torch

    most = max(len(s.region_captions) for s in samples)
    b, t = len(samples), samples[0].frames.shape[0]
    boxes = torch.zeros((b, t, most, 4))
    mask = torch.zeros((b, t, most), dtype=torch.bool)
    for i, s in enumerate(samples):
        r = len(s.region_captions)
        boxes[i, :, :r] = torch.from_numpy(s.boxes)
        mask[i, :, :r] = torch.from_numpy(s.bbox_mask)
    return {"frames": torch.from_numpy(np.stack([s.frames for s in samples])), "boxes": boxes, "bbox_mask": mask,
            "global_captions": [s.global_caption for s in samples],
            "region_captions": [s.region_captions + [""] * (most - len(s.region_captions)) for s in samples],
            "videos": [s.video for s in samples]}
