"""Tuning models on annotated footage: FG-CLIP (``vigil train fgclip``) and LoRA on a
vision-language model (``vigil train vlm``, ``--merge``). Nothing here prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.core.errors import ConfigError, DataError


@dataclass
class FgclipRequest:
    """What ``vigil train fgclip`` trains (its options, by name)."""

    annotations: str
    videos: str
    model: str
    out: str = "fgclip-out"
    steps: int = 200
    batch_size: int = 4
    region_weight: float = 1.0
    lr: float = 1e-5
    frames: int = 8
    save_every: int = 50
    seed: int = 0
    resume: bool = False


#: a training task: the total steps in, a callback of (step, total, losses...) out
StepTask = Callable[[int | None], AbstractContextManager[Callable[..., None]]]


def train_fgclip(request: FgclipRequest, task: StepTask) -> Any:
    """Two-level contrastive training; the result (``summary()`` is what ``--json`` prints).

    Args:
        task: the progress task, called with the steps; its callback gets (step, total,
            global loss, region loss).
    """
    from perception.fgclip.data import load_annotations
    from perception.fgclip.model import tiny_clip
    from perception.fgclip.train import TrainConfig
    from perception.fgclip.train import train_fgclip as train
    from perception.hub import out_folder

    config = TrainConfig(steps=request.steps, batch_size=request.batch_size, region_weight=request.region_weight,
                         lr=request.lr, frames=request.frames, save_every=request.save_every, seed=request.seed)
    if not Path(request.videos).is_dir():
        raise ConfigError(f"--videos {request.videos}: not a folder")
    out_folder(request.out, create=False)
    model = request.model
    if model == "tiny-random":
        folder = Path(request.out) / "tiny-random"
        if not (folder / "config.json").is_file():
            entries = load_annotations(request.annotations)
            tiny_clip(folder, [e.global_caption for e in entries] + [c for e in entries for c in e.region_captions],
                      seed=request.seed)
        model = str(folder)
    with task(config.steps) as progress:
        return train(request.annotations, request.videos, model, request.out, config, resume=request.resume,
                     progress=progress)


@dataclass
class VlmRequest:
    """What ``vigil train vlm`` trains or merges (its options, by name)."""

    instructions: Sequence[str] | None = None
    videos: str | None = None
    model: str | None = None
    out: str | None = None
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str | None = None
    vision_lora: bool = False
    frames: int = 8
    sampler: str = "auto"
    scores: str | None = None
    frame_width: int = 448
    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 2e-4
    batch_size: int = 1
    grad_accum: int = 8
    max_tokens: int = 4096
    bf16: bool = False
    gradient_checkpointing: bool = False
    save_every: int = 100
    seed: int = 0
    trust_remote_code: bool = False
    resume: bool = False
    dry_run: bool = False
    merge: bool = False
    adapter: str | None = None


def predict_prompt() -> Callable[[str, int], tuple[str, str]]:
    """The predict prompt as (question, frames) -> (system, user): what vigil eval predict sends."""
    from prompts import load_prompt

    prompt = load_prompt("predict")
    return lambda question, n_frames: prompt.render(question=question, n_frames=n_frames)


def train_vlm(request: VlmRequest, task: StepTask) -> tuple[str, Any]:
    """LoRA training, or with ``dry_run`` its plan: ``("plan", report dict)`` or ``("trained", result)``.

    Args:
        task: the progress task (total unknown at first); its callback gets (step, total, loss).
    """
    from perception.hub import out_folder
    from perception.vlm.data import FrameSource, read_examples
    from perception.vlm.train import DEFAULT_TARGETS, TrainConfig, plan
    from perception.vlm.train import train_vlm as train

    for flag, value in (("--instructions", request.instructions), ("--videos", request.videos),
                        ("--model", request.model), ("--out", request.out)):
        if not value:
            raise ConfigError(f"vigil train vlm needs {flag} (or --merge --adapter DIR --out DIR)")
    if request.adapter:
        raise ConfigError("--adapter applies to --merge")
    assert request.instructions and request.videos and request.model and request.out
    out_folder(request.out, create=False)
    config = TrainConfig(
        epochs=request.epochs, max_steps=request.max_steps, lr=request.lr, batch_size=request.batch_size,
        grad_accum=request.grad_accum, lora_r=request.lora_r, lora_alpha=request.lora_alpha,
        lora_dropout=request.lora_dropout,
        lora_targets=tuple(t.strip() for t in request.lora_targets.split(",") if t.strip()) if request.lora_targets
        else DEFAULT_TARGETS, vision_lora=request.vision_lora,
        frames=request.frames, sampler=request.sampler, width=request.frame_width, max_tokens=request.max_tokens,
        bf16=request.bf16, gradient_checkpointing=request.gradient_checkpointing, save_every=request.save_every,
        seed=request.seed)
    if request.frames > 64:
        raise ConfigError(f"--frames {request.frames}: must be 1 to 64")
    examples = read_examples(request.instructions)
    if not examples:
        raise DataError(f"--instructions {' '.join(request.instructions)}: no rows")
    frames = FrameSource(request.videos, frames=config.frames, sampler=config.sampler, scores=request.scores,
                         width=config.width)
    prompt = predict_prompt()
    model = request.model
    if model == "tiny-random":
        from perception.vlm.tiny import tiny_qwen2_vl

        folder = Path(request.out) / "tiny-random"
        if not (folder / "config.json").is_file():
            system, user = prompt("", config.frames)
            tiny_qwen2_vl(folder, [system, user, "system user assistant",
                                   *(f"{t.prompt} {t.answer}" for e in examples for t in e.turns)], seed=request.seed)
        model = str(folder)
    if request.dry_run:
        return "plan", plan(examples, frames, model, prompt, config, trust_remote_code=request.trust_remote_code)
    with task(None) as progress:
        return "trained", train(examples, frames, model, request.out, prompt, config, resume=request.resume,
                                trust_remote_code=request.trust_remote_code, progress=progress)


def merge_vlm(request: VlmRequest) -> Path:
    """Fold ``request.adapter`` into its base model, saved to ``request.out``."""
    from perception.vlm.train import merge_adapter

    if not request.adapter or not request.out:
        raise ConfigError("--merge needs --adapter DIR (the adapter of a run) and --out DIR (the merged model)")
    if request.instructions or request.dry_run or request.resume:
        raise ConfigError("--merge takes only --adapter, --out, --model, --bf16 and --trust-remote-code")
    return merge_adapter(request.adapter, request.out, base=request.model, trust_remote_code=request.trust_remote_code,
                         bf16=request.bf16)
