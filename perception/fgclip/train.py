"""``vigil train fgclip``: the two-level contrastive training loop, with accelerate.

Batches cycle through the annotated videos in a fixed shuffled order (seeded), so a resumed run
sees what an uninterrupted one would. The accelerate state (model, optimizer, scheduler, random
generators) is saved every ``save_every`` steps and at the end under ``<out>/checkpoint``; the
losses of every step so far in ``<out>/train_state.json``; the tuned model, ready for
``from_pretrained``, in ``<out>/model``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from perception.fgclip.data import FGClipDataset, collate_fgclip, load_annotations
from perception.fgclip.model import FGClip
from perception.hub import out_folder
from perception.score.frame_scorer import LOAD_ERRORS, unloadable
from vigil.core.errors import ConfigError
from vigil.core.files import write_text_atomic
from vigil.core.imports import require

#: losses averaged for the "last" figures (the last steps, so one lucky batch does not decide)
LAST_STEPS = 5


@dataclass
class TrainConfig:
    """Settings of one training run."""

    steps: int = 200
    batch_size: int = 4
    region_weight: float = 1.0
    lr: float = 1e-5
    weight_decay: float = 0.01
    warmup_steps: int = 0
    frames: int = 8
    save_every: int = 50
    seed: int = 0
    mixed_precision: str = "auto"  # auto: bf16 on a GPU that has it, else full precision

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "frames", "save_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.batch_size < 2:
            raise ConfigError(f"--batch-size {self.batch_size}: contrastive training needs at least 2 videos per batch")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr {self.lr}: must be a positive number")
        if self.region_weight < 0:
            raise ConfigError(f"--lambda {self.region_weight}: must be >= 0")


@dataclass
class TrainResult:
    """What a run did: losses per step, where the model went."""

    steps: int
    losses_global: list[float] = field(default_factory=list)
    losses_region: list[float] = field(default_factory=list)
    model_dir: str = ""
    resumed_from: int = 0

    def summary(self) -> dict[str, Any]:
        """The figures ``--json`` prints (first = the first step's loss, last = the mean of the last steps)."""
        def last(v: list[float]) -> float | None:
            return round(sum(v[-LAST_STEPS:]) / len(v[-LAST_STEPS:]), 4) if v else None

        return {"steps": self.steps, "resumed_from": self.resumed_from, "model": self.model_dir,
                "loss_global_first": round(self.losses_global[0], 4) if self.losses_global else None,
                "loss_global_last": last(self.losses_global),
                "loss_region_first": round(self.losses_region[0], 4) if self.losses_region else None,
                "loss_region_last": last(self.losses_region)}


def train_fgclip(annotations: str | Path, videos: str | Path, model: str | Path, out: str | Path,
                 config: TrainConfig | None = None, *, resume: bool = False,
                 progress: Callable[[int, int, float, float], None] | None = None) -> TrainResult:
    """Train FG-CLIP (see the module docstring).

    Args:
        annotations: the FG-CLIP annotation file.
        videos: the folder its video paths are relative to.
        model: a local CLIP folder or hub id to start from.
        out: where checkpoints, losses and the tuned model go.
        resume: continue from ``<out>/checkpoint`` (it must exist).
        progress: called after each step with (step, steps, global loss, region loss).
    """
    torch = require("torch", "FG-CLIP training", extra="train")
    accelerate = require("accelerate", "FG-CLIP training", extra="train")
    cfg = config or TrainConfig()
    out = out_folder(out, create=False)  # made at the first checkpoint
    state_file, ckpt = out / "train_state.json", out / "checkpoint"
    if resume and not (ckpt.is_dir() and state_file.is_file()):
        raise ConfigError(f"--resume: no checkpoint in {out} (train without --resume first)")
    entries = load_annotations(annotations)
    if len(entries) < 2:
        raise ConfigError(f"{annotations}: contrastive training needs at least 2 annotated videos, found {len(entries)}")
    clip = FGClip.load(model)
    dataset = FGClipDataset(entries, videos, frames=cfg.frames, size=clip.image_size)
    precision = cfg.mixed_precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    acc = accelerate.Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())
    accelerate.utils.set_seed(cfg.seed)
    optimizer = torch.optim.AdamW(clip.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0)
    clip.model, optimizer, scheduler = acc.prepare(clip.model, optimizer, scheduler)
    result = TrainResult(steps=cfg.steps)
    start = 0
    if resume:
        try:  # accelerate loads tensors and plain values only (torch's weights-only loader)
            acc.load_state(str(ckpt))
        except (*LOAD_ERRORS, TypeError) as exc:
            raise unloadable(ckpt, exc, "start over without --resume") from None
        saved = json.loads(state_file.read_text())
        start = int(saved["step"])
        result.losses_global, result.losses_region = saved["losses_global"], saved["losses_region"]
        result.resumed_from = start
        if saved.get("config", {}).get("batch_size") not in (None, cfg.batch_size):
            raise ConfigError(f"--resume: the checkpoint was trained with --batch-size {saved['config']['batch_size']}")
    batch_order = _order(len(dataset), cfg.batch_size, cfg.seed)
    clip.model.train()
    for step in range(start, cfg.steps):
        batch = collate_fgclip([dataset[i] for i in batch_order(step)])
        with acc.autocast():
            losses = clip.losses(batch, cfg.region_weight)
        acc.backward(losses["total"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        result.losses_global.append(float(losses["global"].detach()))
        result.losses_region.append(float(losses["region"].detach()))
        done = step + 1
        if progress:
            progress(done, cfg.steps, result.losses_global[-1], result.losses_region[-1])
        if done % cfg.save_every == 0 or done == cfg.steps:
            out.mkdir(parents=True, exist_ok=True)
            acc.save_state(str(ckpt))
            # atomic: the checkpoint and its step agree, even after a crash here
            write_text_atomic(state_file, json.dumps({"step": done, "losses_global": result.losses_global,
                                                      "losses_region": result.losses_region, "config": asdict(cfg)}))
    clip.model = acc.unwrap_model(clip.model)
    clip.model.eval()
    clip.save(out / "model")
    result.model_dir = str(out / "model")
    return result


def _order(n: int, batch_size: int, seed: int) -> Callable[[int], list[int]]:
    """Step -> the dataset indices of its batch: epochs of a seeded permutation, the same on every run."""
    import numpy as np

    per_epoch = max(1, n // min(batch_size, n))

    def batch(step: int) -> list[int]:
        epoch, k = divmod(step, per_epoch)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        size = min(batch_size, n)
        return [int(i) for i in perm[k * size:(k + 1) * size]]

    return batch
