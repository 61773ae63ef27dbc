"""Future-frame prediction: a small U-Net predicts each frame from the four before it.

Trained on the camera's normal frames with an intensity (L2) and a gradient (L1 of image-gradient
differences) loss, it predicts ordinary motion well and anomalous motion or appearance badly. A
frame's raw score is its prediction error as negative PSNR: over the whole frame (``region:
frame``, as published) or over the worst 16-pixel block (``region: patch``, which keeps a small
anomaly from being averaged away by a large normal scene). Files can be scored the published way,
min-max normalised per video (``vigil score --per-video``); live cameras are calibrated against
the PSNR of held-out normal frames instead, since a stream has no "whole video".

The network has no normalisation layers, so MAML (:mod:`perception.learned.maml`) can adapt its
parameters functionally. It predicts the change from the last frame, which a CPU learns in far
fewer steps than the frame itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.score.frame_scorer import (
    LOAD_ERRORS,
    Checkpointer,
    FrameScorer,
    ScorerConfig,
    ScoreStream,
    TrainProgress,
    TrainReport,
    load_detail,
    register_scorer,
    run_steps,
    sample_indices,
    set_threads,
)
from vigil.core.errors import ConfigError

HISTORY = 4  # frames the prediction sees


@dataclass
class FramePredConfig(ScorerConfig):
    """Settings of the frame predictor."""

    steps: int = 3000
    width: int = 16              # channels of the U-Net's first level (doubling per level)
    gradient_weight: float = 1.0  # weight of the gradient loss next to the intensity loss
    region: str = "frame"         # "frame": PSNR of the whole frame (as published); "patch": of its worst block
    patch: int = 16               # block size for region "patch", pixels of the model frame
    meta_init: str | None = None  # weights of a meta-learned initialisation to start from
    adapt_frames: int = 0         # train only on this many normal frames (0: all), the adaptation budget

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.region not in ("frame", "patch"):
            raise ConfigError(f"framepred region {self.region!r}: choose frame or patch")
        if self.width < 4:
            raise ConfigError(f"framepred width {self.width}: must be at least 4")
        if self.adapt_frames < 0:
            raise ConfigError(f"framepred adapt_frames {self.adapt_frames}: must not be negative")


def build_unet(width: int) -> Any:
    """The predictor: three levels, skip connections, no normalisation layers."""
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.1))

    c1, c2, c3 = width, 2 * width, 4 * width

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e1, self.e2, self.e3 = block(HISTORY, c1), block(c1, c2), block(c2, c3)
            self.up2, self.d2 = nn.ConvTranspose2d(c3, c2, 2, stride=2), block(2 * c2, c2)
            self.up1, self.d1 = nn.ConvTranspose2d(c2, c1, 2, stride=2), block(2 * c1, c1)
            self.out = nn.Conv2d(c1, 1, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x1 = self.e1(x)
            x2 = self.e2(nn.functional.max_pool2d(x1, 2))
            x3 = self.e3(nn.functional.max_pool2d(x2, 2))
            y = self.d2(torch.cat([self.up2(x3), x2], 1))
            y = self.d1(torch.cat([self.up1(y), x1], 1))
            # the change from the last frame, in [-1, 1] images
            return torch.clamp(x[:, -1:] + self.out(y), -1.0, 1.0)

    return UNet()


def prediction_loss(pred: Any, target: Any, gradient_weight: float) -> Any:
    """Intensity (L2) plus gradient loss (L1 between the absolute image gradients)."""
    import torch

    def grads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x[..., :, 1:] - x[..., :, :-1]).abs(), (x[..., 1:, :] - x[..., :-1, :]).abs()

    gx_p, gy_p = grads(pred)
    gx_t, gy_t = grads(target)
    intensity = torch.mean((pred - target) ** 2)
    gradient = torch.mean((gx_p - gx_t).abs()) + torch.mean((gy_p - gy_t).abs())
    return intensity + gradient_weight * gradient


def to_tensor(frames: np.ndarray) -> Any:
    """uint8 frames (..., H, W) as float32 in [-1, 1]."""
    import torch

    return torch.from_numpy(frames.astype(np.float32) / 127.5 - 1.0)


def make_batch(videos: Sequence[np.ndarray], pairs: Sequence[tuple[int, int]]) -> tuple[Any, Any]:
    """(inputs (B, 4, H, W), targets (B, 1, H, W)) for (video, frame) pairs."""
    x = np.stack([videos[v][i - HISTORY:i] for v, i in pairs])
    y = np.stack([videos[v][i:i + 1] for v, i in pairs])
    return to_tensor(x), to_tensor(y)


def psnr_error(pred: Any, target: Any, region: str, patch: int) -> np.ndarray:
    """Per frame: negative PSNR of the prediction (images in [-1, 1] mapped to [0, 1])."""
    import torch

    err = ((pred - target) / 2.0) ** 2  # (B, 1, H, W) in [0, 1] units
    if region == "patch":
        mse = torch.nn.functional.avg_pool2d(err, patch, stride=patch // 2).flatten(1).amax(1)
    else:
        mse = err.flatten(1).mean(1)
    return (-10.0 * torch.log10(1.0 / torch.clamp(mse, min=1e-8))).numpy().astype(np.float64)


@register_scorer("framepred")
class FramePredScorer(FrameScorer):
    """Future-frame prediction scorer (see the module docstring)."""

    config_class = FramePredConfig
    context = HISTORY

    def __init__(self, config: ScorerConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        import torch

        torch.manual_seed(config.seed)
        self.cfg: FramePredConfig = config  # type: ignore[assignment]
        self.model = build_unet(self.cfg.width)

    @property
    def network(self) -> Any:
        return self.model

    def component_names(self) -> list[str]:
        return ["psnr_error"]

    def load_init(self, path: str | Path) -> None:
        """Start from meta-learned weights (``vigil fit --meta-train`` writes them)."""
        import torch

        from vigil.core.errors import DataError

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.model.load_state_dict(state)
        except LOAD_ERRORS as exc:
            raise DataError(f"{path}: not a framepred initialisation of width {self.cfg.width} ({load_detail(exc)}); "
                            f"run vigil fit --scorer framepred --meta-train DIR ... to make one") from None

    def train(self, videos: Sequence[np.ndarray], *, progress: TrainProgress | None = None,
              checkpoint: Path | None = None, resume: bool = False) -> list[TrainReport]:
        import torch

        cfg = self.cfg
        set_threads(cfg.threads)
        if cfg.meta_init and not (resume and checkpoint is not None and checkpoint.is_file()):
            self.load_init(cfg.meta_init)
        videos = budget(videos, cfg.adapt_frames) if cfg.adapt_frames else list(videos)
        rng = np.random.default_rng(cfg.seed)
        lengths = [len(v) for v in videos]
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.model.train()

        def step(_: int) -> float:
            x, y = make_batch(videos, list(sample_indices(lengths, HISTORY, cfg.batch_size, rng)))
            loss = prediction_loss(self.model(x), y, cfg.gradient_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.item())

        report = run_steps("train", cfg.steps, step, self.model, opt, Checkpointer(checkpoint, cfg.checkpoint_every),
                           progress, resume)
        self.model.eval()
        return [report]

    def stream(self) -> ScoreStream:
        return _PredStream(self)


def budget(videos: Sequence[np.ndarray], n: int) -> list[np.ndarray]:
    """The first ``n`` frames of normal footage (split over the videos in order), the adaptation budget."""
    out, left = [], n
    for v in videos:
        if left <= HISTORY:
            break
        out.append(v[:left])
        left -= len(out[-1])
    return out


class _PredStream(ScoreStream):
    def __init__(self, scorer: FramePredScorer, batch: int = 8) -> None:
        self.s = scorer
        self.batch = batch
        self.history: list[np.ndarray] = []
        self.pending: list[tuple[float, np.ndarray, np.ndarray]] = []

    def push(self, t: float, frame: np.ndarray) -> list[tuple[float, Any]]:
        if len(self.history) == HISTORY:
            self.pending.append((t, np.stack(self.history), frame))
        self.history = (self.history + [frame])[-HISTORY:]
        return self.flush() if len(self.pending) >= self.batch else []

    def flush(self) -> list[tuple[float, Any]]:
        import torch

        if not self.pending:
            return []
        times = [p[0] for p in self.pending]
        x = to_tensor(np.stack([p[1] for p in self.pending]))
        y = to_tensor(np.stack([p[2] for p in self.pending]))[:, None]
        self.pending = []
        with torch.inference_mode():
            err = psnr_error(self.s.model(x), y, self.s.cfg.region, self.s.cfg.patch)
        if self.components:
            return [(t, (float(e),)) for t, e in zip(times, err)]
        return [(t, self.s.combine((float(e),))) for t, e in zip(times, err)]
