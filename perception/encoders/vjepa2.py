"""The ``vjepa2`` encoder: V-JEPA 2 video features through transformers' ``VJEPA2Model``.

Weights come from a hub id (``facebook/vjepa2-vitl-fpc64-256``) or a local directory written by
``save_pretrained`` / ``huggingface-cli download``. Preprocessing follows the model card: resize
the shortest edge to ``crop * 256 / 224`` (292 for 256 crops), centre-crop ``crop``, scale to
[0, 1] and normalise with the ImageNet mean and standard deviation. It is done here in torch,
so no image-processing extras are needed.

The clip embedding is the mean of all encoder tokens; the token grid (averaged over time) is
pooled to the cell grid for localisation. Cells cover the centre crop, not the full frame.
On CUDA the model runs in bfloat16 (float16 where bfloat16 is unsupported) and windows are
batched; on a CPU it runs in float32.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.encoders import Embedding, Encoder, register_encoder
from perception.hub import resolve_model
from perception.source.windows import Window
from vigil.core.errors import ConfigError, MissingDependencyError, VigilError, first_line
from vigil.core.imports import require

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_MODEL = "facebook/vjepa2-vitl-fpc64-256"


class ModelLoadError(VigilError):
    """Weights that cannot be found or loaded."""


@dataclass(frozen=True)
class VJEPA2EncoderConfig:
    """Settings of the V-JEPA 2 encoder.

    Attributes:
        model: hub id or local directory with ``config.json`` and weights.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        dtype: ``auto`` (bf16/fp16 on CUDA, fp32 on CPU), ``float32``, ``bfloat16`` or ``float16``.
        batch_size: windows per forward pass.
        grid_rows, grid_cols: cell grid the token grid is pooled to.
    """

    model: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 8
    grid_rows: int = 4
    grid_cols: int = 4

    def __post_init__(self) -> None:
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (1 <= self.grid_rows <= 64 and 1 <= self.grid_cols <= 64):
            raise ValueError(f"grid must be between 1x1 and 64x64, got {self.grid_rows}x{self.grid_cols}")


@register_encoder("vjepa2")
class VJEPA2Encoder(Encoder):
    """V-JEPA 2 clip and cell embeddings (see the module docstring)."""

    def __init__(self, **config: Any) -> None:
        config.pop("fps", None)  # the sampling rate is the pipeline's business here
        self.config = VJEPA2EncoderConfig(**config)
        self.torch = require("torch", "the vjepa2 encoder")
        transformers = require("transformers", "the vjepa2 encoder")
        if not hasattr(transformers, "VJEPA2Model"):
            raise MissingDependencyError(
                f"transformers {transformers.__version__} has no VJEPA2Model; pip install 'transformers>=4.53'"
            )
        torch = self.torch
        cfg = self.config
        if cfg.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(cfg.device)
        if cfg.dtype == "auto":
            if self.device.type == "cuda":
                self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            else:
                self.dtype = torch.float32
        else:
            self.dtype = getattr(torch, cfg.dtype)
        self.model = self._load(transformers)
        self.model.to(self.device).eval()
        mc = self.model.config
        self.crop = int(_processor_crop(self.source) or mc.crop_size)
        self.patch = int(mc.patch_size)
        self.tubelet = int(mc.tubelet_size)
        self.resize = int(self.crop * 256 / 224)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def _load(self, transformers: Any) -> Any:
        """The model from a folder, the local hub cache, or the hub when it answers (:mod:`perception.hub`)."""
        cfg = self.config
        try:
            self.source = resolve_model(cfg.model, "--encoder-model")
        except ConfigError as exc:
            raise ModelLoadError(f"cannot load V-JEPA 2 weights: {exc}") from None
        try:
            return transformers.VJEPA2Model.from_pretrained(self.source, dtype=self.dtype)
        except OSError as exc:
            reason = first_line(exc, 160)
            where = "the folder has no loadable V-JEPA 2 weights" if Path(self.source).is_dir() else "download failed"
            raise ModelLoadError(f"cannot load V-JEPA 2 weights {cfg.model!r}: {where} ({reason})") from None

    @property
    def grid(self) -> tuple[int, int]:
        return self.config.grid_rows, self.config.grid_cols

    @property
    def version(self) -> str:
        return f"vjepa2-1/{self.config.model}/{self.crop}/{self.grid[0]}x{self.grid[1]}"

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "config": asdict(self.config), "arrays": {}}

    def preprocess(self, frames: np.ndarray) -> Any:
        """``(T, H, W, 3)`` uint8 RGB -> ``(T, 3, crop, crop)`` normalised float tensor."""
        torch = self.torch
        F = torch.nn.functional
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        h, w = x.shape[-2:]
        scale = self.resize / min(h, w)
        size = (max(self.crop, round(h * scale)), max(self.crop, round(w * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        top = (size[0] - self.crop) // 2
        left = (size[1] - self.crop) // 2
        x = x[:, :, top : top + self.crop, left : left + self.crop]
        return (x - self._mean) / self._std

    def _frames(self, window: Window) -> np.ndarray:
        frames = window.frames
        t = frames.shape[0] - frames.shape[0] % self.tubelet
        return frames[: max(t, self.tubelet)] if t else np.repeat(frames[:1], self.tubelet, axis=0)

    def embed(self, window: Window) -> Embedding:
        return self.embed_batch([window])[0]

    def embed_batch(self, windows: Sequence[Window]) -> list[Embedding]:
        torch = self.torch
        out: list[Embedding] = []
        bs = self.config.batch_size
        for start in range(0, len(windows), bs):
            chunk = windows[start : start + bs]
            clips = [self._frames(w) for w in chunk]
            t = min(c.shape[0] for c in clips)
            batch = torch.stack([self.preprocess(c[:t]) for c in clips]).to(self.dtype)
            with torch.inference_mode():
                tokens = self.model(pixel_values_videos=batch, skip_predictor=True).last_hidden_state
            tokens = tokens.float()
            b, n, d = tokens.shape
            side = self.crop // self.patch
            steps = n // (side * side)
            grid = tokens.view(b, steps, side, side, d).mean(dim=1)  # (B, side, side, D)
            pooled = torch.nn.functional.adaptive_avg_pool2d(grid.permute(0, 3, 1, 2), self.grid)  # (B, D, R, C)
            cells = pooled.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)
            vectors = tokens.mean(dim=1).cpu().numpy().astype(np.float32)
            out += [Embedding(vector=v, cells=c) for v, c in zip(vectors, cells)]
        return out


def _processor_crop(model: str) -> int | None:
    """The crop size from a local processor config, if one is there."""
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        path = Path(model) / name
        if path.is_file():
            try:
                crop = json.loads(path.read_text()).get("crop_size")
            except (OSError, json.JSONDecodeError):
                return None
            if isinstance(crop, dict):
                crop = crop.get("height")
            return int(crop) if crop else None
    return None
