"""MAML for the frame predictor: an initialisation that adapts to a new camera on few frames.

Each task is one camera's normal footage. A meta step samples a few tasks; for each, the inner
loop takes ``inner_steps`` SGD steps on a support batch from that camera, run functionally with
:func:`torch.func.functional_call` so the initial weights stay untouched, and the adapted weights'
loss on a query batch from the same camera is backpropagated to the initialisation (through the
inner steps, or with ``first_order`` only through their result). The outer optimiser (Adam)
updates the initialisation from the summed query losses.

A new camera then starts from this initialisation (``vigil fit --scorer framepred --meta-init``)
and trains on ``--adapt-frames`` frames with the ordinary loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.learned import TrainProgress, TrainReport, mean_of, sample_indices, set_threads
from perception.learned.framepred import (
    HISTORY,
    FramePredConfig,
    build_unet,
    make_batch,
    prediction_loss,
)
from vigil.errors import DataError


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
    seed: int = 0


def meta_train(tasks: Sequence[Sequence[np.ndarray]], model_cfg: FramePredConfig, meta: MetaConfig, out: Path,
               progress: TrainProgress | None = None) -> TrainReport:
    """Meta-learn the predictor's initialisation over cameras and save its weights to ``out``.

    Args:
        tasks: per camera, its normal videos as (N, H, W) uint8 model frames.
        model_cfg: the predictor's settings (its width must match the cameras that will use it).
        meta: meta-training settings.
        out: where the initialisation's weights are written.
        progress: called with ("meta", step, total, mean query loss).
    """
    import torch
    from torch.func import functional_call

    if len(tasks) < 2:
        raise DataError(f"meta-training needs at least two cameras' footage, got {len(tasks)}")
    set_threads(model_cfg.threads)
    torch.manual_seed(meta.seed)
    rng = np.random.default_rng(meta.seed)
    model = build_unet(model_cfg.width)
    names = [n for n, _ in model.named_parameters()]
    init = dict(model.named_parameters())
    opt = torch.optim.Adam(init.values(), lr=meta.outer_lr)
    lengths = [[len(v) for v in t] for t in tasks]
    for i, task_lengths in enumerate(lengths):
        if not any(n > HISTORY for n in task_lengths):
            raise DataError(f"camera {i + 1} of the meta-training footage has too few frames")
    losses: list[float] = []
    t0 = time.perf_counter()
    for step in range(meta.steps):
        opt.zero_grad()
        total = 0.0
        for ti in rng.choice(len(tasks), size=min(meta.tasks_per_step, len(tasks)), replace=False):
            videos, lens = tasks[ti], lengths[ti]
            fast = dict(init)
            for _ in range(meta.inner_steps):
                x, y = make_batch(videos, list(sample_indices(lens, HISTORY, meta.batch_size, rng)))
                loss = prediction_loss(functional_call(model, fast, (x,)), y, model_cfg.gradient_weight)
                grads = torch.autograd.grad(loss, [fast[n] for n in names], create_graph=not meta.first_order)
                fast = {n: fast[n] - meta.inner_lr * g for n, g in zip(names, grads)}
            x, y = make_batch(videos, list(sample_indices(lens, HISTORY, meta.batch_size, rng)))
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
