"""``vigil train vlm``: LoRA on a vision-language model, the dry run, and merging for vLLM.

Training: peft LoRA adapters on the language model's projections (the vision tower frozen
unless ``vision_lora``), accelerate for the device and bf16, AdamW with a linear warm-up then
cosine decay. Examples are visited in epochs of a seeded permutation, so a resumed run sees what
an uninterrupted one would; an example whose file is missing, unreadable or longer than
``max_tokens`` is skipped where it falls (the dry run counts them). Every ``save_every``
optimizer steps and at the end, ``<out>/checkpoint/`` gets the adapter, the optimizer and
scheduler state, the random generators and ``state.json`` (the step, the losses so far, the
examples skipped); it is written beside the old one and swapped in, so a crash leaves one whole
checkpoint. ``<out>/train_state.json`` is a copy of its ``state.json`` for people and scripts.
The adapter, with the processor, ends in ``<out>/adapter/``; :func:`merge_adapter` folds it into
the base weights.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.hub import out_folder, resolve_model
from perception.score.frame_scorer import LOAD_ERRORS, unloadable
from perception.vlm.data import IGNORE, Example, FrameSource, PromptFn, collate, encode, messages
from perception.vlm.processor import load_processor, save_processor
from vigil.core.errors import ConfigError, DataError, first_line
from vigil.core.files import write_text_atomic
from vigil.core.imports import require

#: losses averaged for the "last" figure
LAST_STEPS = 5
#: the language model's linear layers LoRA adapts by default (Qwen2/Llama/InternLM2 names)
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: a module path with one of these parts belongs to the vision side
VISION_PARTS = ("visual", "vision_tower", "vision_model", "vision_encoder", "image_encoder")


@dataclass
class TrainConfig:
    """Settings of one run (the CLI's flags)."""

    epochs: float = 1.0
    max_steps: int | None = None      # stop after this many optimizer steps (overrides epochs)
    lr: float = 2e-4
    batch_size: int = 1
    grad_accum: int = 8
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = DEFAULT_TARGETS
    vision_lora: bool = False
    frames: int = 8
    sampler: str = "auto"
    width: int = 448
    max_tokens: int = 4096
    bf16: bool = False
    gradient_checkpointing: bool = False
    save_every: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum", "frames", "save_every", "lora_r", "max_tokens", "width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"--max-steps {self.max_steps}: must be at least 1")
        if not (self.epochs > 0 and math.isfinite(self.epochs)):
            raise ConfigError(f"--epochs {self.epochs}: must be a positive number")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr {self.lr}: must be a positive number")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"--lora-dropout {self.lora_dropout}: must be in [0, 1)")
        if self.sampler not in ("auto", "ats", "uniform"):
            raise ConfigError(f"--sampler {self.sampler}: choose ats, uniform or auto")
        if not self.lora_targets:
            raise ConfigError("--lora-targets: name at least one module")

    def steps(self, n_examples: int) -> int:
        """Optimizer steps for ``n_examples`` usable examples."""
        if self.max_steps is not None:
            return self.max_steps
        per_epoch = math.ceil(n_examples / (self.batch_size * self.grad_accum))
        return max(1, math.ceil(per_epoch * self.epochs))


@dataclass
class TrainResult:
    """What a run did."""

    steps: int
    losses: list[float] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    adapter_dir: str = ""
    resumed_from: int = 0
    trainable_parameters: int = 0
    total_parameters: int = 0

    def summary(self) -> dict[str, Any]:
        """The figures ``--json`` prints (first = the first step's loss, last = the mean of the last steps)."""
        last = self.losses[-LAST_STEPS:]
        return {"steps": self.steps, "resumed_from": self.resumed_from, "adapter": self.adapter_dir,
                "loss_first": round(self.losses[0], 4) if self.losses else None,
                "loss_last": round(sum(last) / len(last), 4) if last else None,
                "skipped": self.skipped, "trainable_parameters": self.trainable_parameters,
                "total_parameters": self.total_parameters}


class Batches:
    """Step -> micro-batches of encoded examples, in a seeded order that skips what cannot be used."""

    def __init__(self, examples: Sequence[Example], frames: FrameSource, processor: Any, prompt: PromptFn,
                 cfg: TrainConfig) -> None:
        self.examples = [e for e in examples if frames.path(e.video) is not None]
        if not self.examples:
            raise DataError(f"none of the {len(examples)} example(s) has its media file under {frames.videos} "
                            "(vigil data build --videos cuts them); nothing to train on")
        self.frames, self.processor, self.prompt, self.cfg = frames, processor, prompt, cfg
        self.skipped: Counter[str] = Counter()
        self._rejected: set[int] = set()
        pad = processor.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else processor.tokenizer.eos_token_id or 0)

    def _order(self) -> Iterator[int]:
        epoch = 0
        while True:
            yield from (int(i) for i in np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.examples)))
            epoch += 1
            if len(self._rejected) == len(self.examples):
                raise DataError("no example could be encoded (every file unreadable or longer than --max-tokens)")

    def encoded(self, i: int) -> dict[str, Any] | None:
        """Example ``i`` encoded, or None (counted once) when its file is unreadable or it is too long."""
        if i in self._rejected:
            return None
        ex = self.examples[i]
        frames = self.frames.frames(ex.video)
        if frames is None:
            self._reject(i, "unreadable media")
            return None
        enc = encode(self.processor, ex, frames, self.prompt)
        if enc["input_ids"].shape[1] > self.cfg.max_tokens:
            self._reject(i, "longer than --max-tokens")
            return None
        return enc

    def rejected(self) -> dict[str, Any]:
        """What was skipped so far, for the checkpoint (a resumed run must skip the same examples)."""
        return {"indices": sorted(self._rejected), "counts": dict(self.skipped)}

    def restore(self, saved: dict[str, Any]) -> None:
        self._rejected = set(saved.get("indices", []))
        self.skipped = Counter(saved.get("counts", {}))

    def _reject(self, i: int, why: str) -> None:
        self._rejected.add(i)
        self.skipped[why] += 1

    def steps(self, start: int, total: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(step, micro-batches) from ``start``: the same batches an uninterrupted run gives at that step."""
        order = self._order()
        per_step = self.cfg.batch_size * self.cfg.grad_accum
        for step in range(total):
            items: list[dict[str, Any]] = []
            while len(items) < per_step:
                i = next(order)
                if step < start:  # replaying the order up to the resumed step: no encoding needed
                    if i not in self._rejected:
                        items.append({})
                    continue
                enc = self.encoded(i)
                if enc is not None:
                    items.append(enc)
            if step >= start:
                bs = self.cfg.batch_size
                yield step, [collate(items[k:k + bs], self.pad_id) for k in range(0, per_step, bs)]


def lora_targets(model: Any, names: Sequence[str], vision: bool) -> list[str]:
    """Full paths of the linear layers to adapt: those named in ``names``, outside the vision side unless ``vision``."""
    torch = require("torch", "VLM tuning", extra="train")
    out = []
    for path, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or path.rsplit(".", 1)[-1] not in names:
            continue
        if not vision and any(part in VISION_PARTS for part in path.split(".")):
            continue
        out.append(path)
    if not out:
        raise ConfigError(f"--lora-targets {','.join(names)}: no linear layer of the model has these names"
                          + ("" if vision else " outside its vision tower"))
    return out


def train_vlm(examples: Sequence[Example], frames: FrameSource, model: str | Path, out: str | Path,
              prompt: PromptFn, config: TrainConfig | None = None, *, resume: bool = False,
              trust_remote_code: bool = False,
              progress: Callable[[int, int, float], None] | None = None) -> TrainResult:
    """Tune ``model`` with LoRA on ``examples`` (see the module docstring).

    Args:
        examples: from :func:`perception.vlm.data.read_examples`.
        frames: where each example's frames come from.
        model: the base model, a local folder or hub id.
        out: checkpoints, losses and the adapter.
        prompt: the predict prompt's renderer, so training sees what inference will send.
        resume: continue from ``<out>/checkpoint`` (it must exist).
        progress: called after each optimizer step with (step, steps, loss).
    """
    torch = require("torch", "VLM tuning", extra="train")
    transformers = require("transformers", "VLM tuning", extra="train")
    peft = require("peft", "VLM tuning", extra="train")
    accelerate = require("accelerate", "VLM tuning", extra="train")
    cfg = config or TrainConfig()
    out = out_folder(out)
    state_file, ckpt = out / "train_state.json", out / "checkpoint"
    saved: dict[str, Any] = {}
    if resume:
        if not ckpt.is_dir() and ckpt.with_name(ckpt.name + ".old").is_dir():
            ckpt.with_name(ckpt.name + ".old").replace(ckpt)  # a crash mid-swap: the previous one is whole
        if not ((ckpt / "state.json").is_file() and (ckpt / "adapter").is_dir()):
            raise ConfigError(f"--resume: no checkpoint in {out} (train without --resume first)")
        saved = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
        for key in ("batch_size", "grad_accum", "seed", "frames", "lora_r"):
            if saved.get("config", {}).get(key) not in (None, getattr(cfg, key)):
                raise ConfigError(f"--resume: the checkpoint was trained with --{key.replace('_', '-')} "
                                  f"{saved['config'][key]}; give the same")
    processor = load_processor(model, trust_remote_code)
    batches = Batches(examples, frames, processor, prompt, cfg)
    total = cfg.steps(len(batches.examples))
    acc = accelerate.Accelerator(mixed_precision="bf16" if cfg.bf16 else "no", cpu=not torch.cuda.is_available())
    accelerate.utils.set_seed(cfg.seed)
    base = _load_model(transformers, model, trust_remote_code, torch.bfloat16 if cfg.bf16 else torch.float32)
    if cfg.gradient_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.enable_input_require_grads()
    if resume:
        try:  # peft loads safetensors, or tensors and plain values only
            net = peft.PeftModel.from_pretrained(base, str(ckpt / "adapter"), is_trainable=True)
        except LOAD_ERRORS as exc:
            raise unloadable(ckpt / "adapter", exc, "start over without --resume") from None
    else:
        lora = peft.LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                               target_modules=lora_targets(base, cfg.lora_targets, cfg.vision_lora), bias="none")
        net = peft.get_peft_model(base, lora)
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(0, round(cfg.warmup_ratio * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _schedule(s, warmup, total))
    result = TrainResult(steps=total, trainable_parameters=sum(p.numel() for p in trainable),
                         total_parameters=sum(p.numel() for p in net.parameters()))
    start = 0
    if resume:
        _load_state(ckpt, optimizer, scheduler, torch)
        start = result.resumed_from = int(saved["step"])
        result.losses = list(saved["losses"])
        batches.restore(saved.get("rejected", {}))
        if start >= total:
            raise ConfigError(f"--resume: the checkpoint is at step {start} of {total}; nothing left to train "
                              "(raise --epochs or --max-steps)")
    net, optimizer, scheduler = acc.prepare(net, optimizer, scheduler)
    net.train()
    for step, micro in batches.steps(start, total):
        tokens = sum(int((m["labels"] != IGNORE).sum()) for m in micro)
        loss_sum = 0.0
        for m in micro:
            m = {k: v.to(acc.device) for k, v in m.items()}
            with acc.autocast():
                loss = net(**m).loss
            # weight each micro-batch by its share of the step's answer tokens: the step's loss is
            # the mean over all of them, as if the micro-batches were one batch
            share = int((m["labels"] != IGNORE).sum()) / max(1, tokens)
            acc.backward(loss * share)
            loss_sum += float(loss.detach()) * share
        acc.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        result.losses.append(loss_sum)
        done = step + 1
        if progress:
            progress(done, total, loss_sum)
        if done % cfg.save_every == 0 or done == total:
            _save_checkpoint(acc, net, optimizer, scheduler, ckpt, state_file, torch,
                             {"step": done, "losses": result.losses, "rejected": batches.rejected(),
                              "config": {**asdict(cfg), "lora_targets": list(cfg.lora_targets)}, "model": str(model)})
    result.skipped = dict(batches.skipped)
    adapter = out / "adapter"
    acc.unwrap_model(net).save_pretrained(str(adapter))
    save_processor(processor, adapter)
    _record_base(adapter, model)
    result.adapter_dir = str(adapter)
    return result


def _schedule(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to zero at ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


def _load_model(transformers: Any, model: str | Path, trust_remote_code: bool, dtype: Any) -> Any:
    transformers.utils.logging.disable_progress_bar()  # Vigil shows its own progress (as FG-CLIP does)
    source = resolve_model(model)
    try:
        return transformers.AutoModelForImageTextToText.from_pretrained(source, dtype=dtype,
                                                                        trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--model {model}: cannot load it as an image-text-to-text model ({first_line(exc, None)})") from None


def _load_state(ckpt: Path, optimizer: Any, scheduler: Any, torch: Any) -> None:
    """The optimizer, scheduler and random state of a checkpoint: tensors and plain values only,
    so a planted pickle is refused without running."""
    try:
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
        torch.set_rng_state(torch.load(ckpt / "rng.pt", weights_only=True))
    except (*LOAD_ERRORS, TypeError) as exc:
        raise unloadable(ckpt, exc, "start over without --resume") from None


def _save_checkpoint(acc: Any, net: Any, optimizer: Any, scheduler: Any, ckpt: Path, state_file: Path, torch: Any,
                     state: dict[str, Any]) -> None:
    tmp, old = ckpt.with_name(ckpt.name + ".tmp"), ckpt.with_name(ckpt.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    acc.unwrap_model(net).save_pretrained(str(tmp / "adapter"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(torch.get_rng_state(), tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.is_dir():
        ckpt.replace(old)
    tmp.replace(ckpt)
    shutil.rmtree(old, ignore_errors=True)
    write_text_atomic(state_file, json.dumps(state))


def _record_base(adapter: Path, model: str | Path) -> None:
    """The adapter's config names its base as the user gave it: an absolute path for a local folder,
    else the hub id (not the local cache's folder it was loaded from)."""
    cfg_path = adapter / "adapter_config.json"
    data = json.loads(cfg_path.read_text(encoding="utf-8"))
    data["base_model_name_or_path"] = str(Path(model).resolve()) if Path(model).is_dir() else str(model)
    cfg_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def merge_adapter(adapter: str | Path, out: str | Path, base: str | Path | None = None,
                  trust_remote_code: bool = False, bf16: bool = False) -> Path:
    """Fold a LoRA adapter into its base weights and save a folder ``vllm serve`` loads.

    Args:
        adapter: an ``<out>/adapter`` folder of :func:`train_vlm`.
        out: the merged model's folder (weights, config, processor, chat template).
        base: the base model (default: the one the adapter names).
    """
    torch = require("torch", "merging a VLM adapter", extra="train")
    transformers = require("transformers", "merging a VLM adapter", extra="train")
    peft = require("peft", "merging a VLM adapter", extra="train")
    adapter, out = Path(adapter), Path(out)
    cfg_path = adapter / "adapter_config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"--adapter {adapter}: no adapter_config.json (give the adapter folder vigil train vlm wrote)")
    base = base or json.loads(cfg_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise ConfigError(f"--adapter {adapter}: it does not name its base model; give --model")
    if out.resolve() in (adapter.resolve(), Path(base).resolve()):
        raise ConfigError(f"--out {out}: must be a new folder, not the adapter or the base model")
    out_folder(out)
    model = _load_model(transformers, base, trust_remote_code, torch.bfloat16 if bf16 else torch.float32)
    try:
        merged = peft.PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except LOAD_ERRORS as exc:
        raise unloadable(adapter, exc, "give the adapter folder vigil train vlm wrote") from None
    merged.save_pretrained(str(out))
    save_processor(load_processor(base, trust_remote_code), out)  # training leaves the processor as it was
    return out


def plan(examples: Sequence[Example], frames: FrameSource, model: str | Path, prompt: PromptFn,
         cfg: TrainConfig, trust_remote_code: bool = False) -> dict[str, Any]:
    """What a run would train on, without loading weights (``--dry-run``).

    Counts examples by level and task and those whose media file is missing; with the model's
    processor (configuration files only), text tokens of every example and the first batch
    encoded for real: frames, tokens and answer tokens per example, and the image tensors.
    """
    by_level = Counter(e.level for e in examples)
    by_task = Counter(t for e in examples for t in e.tasks)
    with_media = [e for e in examples if frames.path(e.video) is not None]
    missing = sorted({e.video for e in examples if frames.path(e.video) is None})
    report: dict[str, Any] = {
        "examples": len(examples), "turns": sum(len(e.turns) for e in examples),
        "by_level": dict(sorted(by_level.items())), "by_task": dict(sorted(by_task.items())),
        "with_media": len(with_media), "without_media": len(examples) - len(with_media),
        "missing_files": len(missing), "first_missing": missing[:5],
        "frames_per_example": cfg.frames, "sampling": dict(Counter(frames.how(e.video) for e in with_media)),
        "steps": cfg.steps(len(with_media)) if with_media else 0,
        "examples_per_step": cfg.batch_size * cfg.grad_accum,
    }
    try:
        processor = load_processor(model, trust_remote_code)
    except ConfigError as exc:
        report["tokens"] = None
        report["notes"] = [f"token counts need the model's processor: {exc}"]
        return report
    def text_tokens(e: Example) -> int:
        return len(processor.tokenizer(processor.apply_chat_template(messages(e, 0, prompt), tokenize=False))["input_ids"])

    texts = [text_tokens(e) for e in examples]
    report["text_tokens_per_example"] = _spread(texts)
    first: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    per_frame: list[float] = []
    for e in with_media:
        if len(first) == cfg.batch_size:
            break
        got = frames.frames(e.video)
        if got is None:
            continue
        enc = encode(processor, e, got, prompt)
        batch.append(enc)
        tokens = int(enc["input_ids"].shape[1])
        per_frame.append((tokens - text_tokens(e)) / max(1, len(got)))
        first.append({"example": e.key, "level": e.level, "tasks": list(e.tasks), "video": e.video,
                      "frames": len(got), "frame_size": list(got[0].shape[:2]),
                      "tokens": tokens, "answer_tokens": int((enc["labels"] != IGNORE).sum())})
    report["first_batch"] = first
    if batch:
        pad = processor.tokenizer.pad_token_id
        report["first_batch_tensors"] = {k: list(v.shape) for k, v in collate(batch, int(pad or 0)).items()}
        report["image_tokens_per_frame"] = round(float(np.mean(per_frame)), 1)
        est = [t + report["image_tokens_per_frame"] * cfg.frames for t in texts]
        report["estimated_tokens_per_example"] = _spread(est)
        report["over_max_tokens"] = int(sum(1 for t in est if t > cfg.max_tokens))
    else:
        report["notes"] = ["no example's media could be read: no batch to show"]
    return report


def _spread(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values, dtype=np.float64)
    return {"min": round(float(a.min()), 1), "mean": round(float(a.mean()), 1), "max": round(float(a.max()), 1)}
