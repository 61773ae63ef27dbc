"""MAML for the frame predictor: an initialisation that adapts to a new camera on few frames.

Each task is one camera's normal footage. A meta step samples a few tasks; for each, the inner
loop takes ``inner_steps`` SGD steps on a support batch from that camera, run functionally with
:func:`torch.func.functional_call` so the initial weights stay untouched, and the adapted weights'
loss on a query batch from the same camera is backpropagated to the initialisation (through the
inner steps, or with ``first_order`` only through their result). The outer optimiser (Adam)
updates the initialisation from the summed query losses.

The predictor's output layer starts at zero when it is trained on one camera (it begins by
repeating the last frame), and at first gradients reach only that layer: meta steps from
such a network stay at "repeat the last frame" (its output weights came out below 0.001).
Meta-training therefore starts the layer at small random weights (``head_std``) and first runs
``warmup_steps`` of ordinary training on batches drawn from all the cameras, so the meta steps
start from a predictor that predicts.

Each task is seen through a random **view** (:func:`random_view`): a crop zoomed in up to
``zoom_max`` times, mirrored or not, with another contrast and brightness, the same for its
support and query batches. A few rendered cameras then stand for many placements: near and
far, left and right, dim and bright, and people that move several pixels a frame as they do
on a real camera near the ground, where in a whole small rendered frame copying the last
frame is almost right and there is little to learn.

A new camera then starts from this initialisation (``vigil fit --scorer framepred --meta-init``)
and trains on ``--adapt-frames`` frames with the ordinary loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.learned.framepred import (
    HISTORY,
    FramePredConfig,
    build_unet,
    make_batch,
    prediction_loss,
)
from perception.score.frame_scorer import (
    TrainProgress,
    TrainReport,
    mean_of,
    sample_indices,
    set_threads,
)
from vigil.core.errors import DataError


@dataclass
class MetaConfig:
    """Settings of meta-training."""

    steps: int = 300            # outer (meta) steps
    tasks_per_step: int = 2     # cameras sampled per meta step
    inner_steps: int = 2        # SGD steps of the inner loop
    inner_lr: float = 0.05      # the inner loop's learning rate
    outer_lr: float = 1e-3      # Adam's learning rate on the initialisation
    batch_size: int = 4         # support and query frames per task and step
    first_order: bool = True    # skip second derivatives (much cheaper, nearly as good)
    warmup_steps: int = 300     # ordinary training steps on all cameras' frames before the meta steps
    warmup_batch: int = 8       # frames per warm-up step
    zoom_max: float = 3.0       # views of a camera zoom in up to this much (1: whole frames only)
    head_std: float = 0.01      # the output layer starts at random weights this small (0: at zero)
    seed: int = 0


def meta_train(tasks: Sequence[Sequence[np.ndarray]], model_cfg: FramePredConfig, meta: MetaConfig, out: Path,
               progress: TrainProgress | None = None) -> TrainReport:
    """Meta-learn the predictor's initialisation over cameras and save its weights to ``out``.

    Args:
        tasks: per camera, its normal videos as (N, H, W) uint8 model frames.
        model_cfg: the predictor's settings (its width must match the cameras that will use it).
        meta: meta-training settings.
        out: where the initialisation's weights are written.
        progress: called with ("warmup", step, total, loss) during the warm-up, then with
            ("meta", step, total, mean query loss).
    """
    import torch
    from torch.func import functional_call

    if len(tasks) < 2:
        raise DataError(f"meta-training needs at least two cameras' footage, got {len(tasks)}")
    set_threads(model_cfg.threads)
    torch.manual_seed(meta.seed)
    rng = np.random.default_rng(meta.seed)
    model = build_unet(model_cfg.width)
    if meta.head_std > 0:
        torch.nn.init.normal_(model.out.weight, std=meta.head_std)
    names = [n for n, _ in model.named_parameters()]
    init = dict(model.named_parameters())
    opt = torch.optim.Adam(init.values(), lr=meta.outer_lr)
    lengths = [[len(v) for v in t] for t in tasks]
    for i, task_lengths in enumerate(lengths):
        if not any(n > HISTORY for n in task_lengths):
            raise DataError(f"camera {i + 1} of the meta-training footage has too few frames")
    t0 = time.perf_counter()
    if meta.warmup_steps > 0:
        flat = [v for t in tasks for v in t]
        flat_lengths = [len(v) for v in flat]
        warm = torch.optim.Adam(init.values(), lr=meta.outer_lr)
        for step in range(meta.warmup_steps):
            view = random_view(rng, meta.zoom_max)
            x, y = view(*make_batch(flat, list(sample_indices(flat_lengths, HISTORY, meta.warmup_batch, rng))))
            loss = prediction_loss(model(x), y, model_cfg.gradient_weight)
            warm.zero_grad()
            loss.backward()
            warm.step()
            if progress:
                progress("warmup", step + 1, meta.warmup_steps, float(loss.item()))
    losses: list[float] = []
    for step in range(meta.steps):
        opt.zero_grad()
        total = 0.0
        for ti in rng.choice(len(tasks), size=min(meta.tasks_per_step, len(tasks)), replace=False):
            videos, lens = tasks[ti], lengths[ti]
            fast = dict(init)
            view = random_view(rng, meta.zoom_max)
            for _ in range(meta.inner_steps):
                x, y = view(*make_batch(videos, list(sample_indices(lens, HISTORY, meta.batch_size, rng))))
                loss = prediction_loss(functional_call(model, fast, (x,)), y, model_cfg.gradient_weight)
                grads = torch.autograd.grad(loss, [fast[n] for n in names], create_graph=not meta.first_order)
                fast = {n: fast[n] - meta.inner_lr * g for n, g in zip(names, grads)}
            x, y = view(*make_batch(videos, list(sample_indices(lens, HISTORY, meta.batch_size, rng))))
            query = prediction_loss(functional_call(model, fast, (x,)), y, model_cfg.gradient_weight)
            query.backward()
            total += float(query.item())
        opt.step()
        losses.append(total / min(meta.tasks_per_step, len(tasks)))
        if progress:
            progress("meta", step + 1, meta.steps, losses[-1])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(out)
    k = max(1, min(20, len(losses) // 10 or 1))
    return TrainReport("meta", meta.steps, mean_of(losses[:k]), mean_of(losses[-k:]), time.perf_counter() - t0)


def random_view(rng: np.random.Generator, zoom_max: float) -> Callable[[Any, Any], tuple[Any, Any]]:
    """One random view of a camera, applied alike to input and target frames (``(B, C, H, W)``
    tensors in [-1, 1]): a crop zoomed in 1 to ``zoom_max`` times (log-uniform) and brought
    back to the frame size, a mirror half the time, contrast x0.7-1.3 and brightness +-0.2."""
    import torch

    zoom = float(np.exp(rng.uniform(0.0, np.log(max(zoom_max, 1.0)))))
    fy, fx = rng.uniform(0.0, 1.0, 2)
    mirror = bool(rng.random() < 0.5)
    gain, offset = float(rng.uniform(0.7, 1.3)), float(rng.uniform(-0.2, 0.2))

    def apply(x: Any, y: Any) -> tuple[Any, Any]:
        out = []
        for t in (x, y):
            h, w = t.shape[-2:]
            ch, cw = max(8, int(round(h / zoom))), max(8, int(round(w / zoom)))
            r, c = int(fy * (h - ch)), int(fx * (w - cw))
            v = t[..., r:r + ch, c:c + cw]
            if (ch, cw) != (h, w):
                v = torch.nn.functional.interpolate(v, size=(h, w), mode="bilinear", align_corners=False)
            if mirror:
                v = torch.flip(v, dims=[-1])
            out.append(torch.clamp(v * gain + offset, -1.0, 1.0))
        return out[0], out[1]

    return apply
