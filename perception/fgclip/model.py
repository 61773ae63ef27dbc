"""The FG-CLIP model: video and region embeddings from a transformers ``CLIPModel``, two InfoNCE losses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from perception.hub import resolve_model
from vigil.core.errors import ConfigError, DataError
from vigil.core.imports import require

#: OpenAI CLIP's pixel statistics, for models saved without an image processor
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: sampling points per box side in ROI align
ROI_POINTS = 4


def roi_align(maps: Any, boxes: Any, points: int = ROI_POINTS) -> Any:
    """Average of each box's bilinear samples on its feature map (RoIAlign, one bin).

    Args:
        maps: ``(N, C, G, G)`` feature maps, one per box.
        boxes: ``(N, 4)`` normalised xyxy.
    Returns:
        ``(N, C)`` region features.
    """
    import torch
    import torch.nn.functional as F

    n = boxes.shape[0]
    steps = (torch.arange(points, device=boxes.device, dtype=maps.dtype) + 0.5) / points  # bin centres
    xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * steps  # (N, P)
    ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * steps
    grid = torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), dim=-1)  # (N, P, P, 2) as (x, y)
    sampled = F.grid_sample(maps, grid * 2 - 1, mode="bilinear", align_corners=False)  # (N, C, P, P)
    return sampled.reshape(n, maps.shape[1], -1).mean(-1)


def info_nce(a: Any, b: Any, logit_scale: Any) -> Any:
    """Symmetric InfoNCE between matching rows of ``a`` and ``b`` (both L2-normalised)."""
    import torch
    import torch.nn.functional as F

    logits = logit_scale.exp().clamp(max=100) * a @ b.t()
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


class FGClip:
    """A ``CLIPModel`` with its tokenizer and pixel statistics, giving video, region and text embeddings.

    Args:
        model: a transformers ``CLIPModel``.
        tokenizer: its tokenizer.
        mean, std: pixel statistics of its image processor.
    """

    def __init__(self, model: Any, tokenizer: Any, mean: tuple[float, ...] = CLIP_MEAN, std: tuple[float, ...] = CLIP_STD) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.mean, self.std = tuple(mean), tuple(std)

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    @classmethod
    def load(cls, name: str | Path) -> FGClip:
        """From a local folder or a hub id (see :func:`perception.hub.resolve_model`)."""
        transformers = require("transformers", "FG-CLIP training", extra="train")
        transformers.utils.logging.disable_progress_bar()  # Vigil shows its own progress
        source = resolve_model(name)
        try:
            model = transformers.CLIPModel.from_pretrained(source)
            tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            where = "folder" if Path(source).is_dir() else "hub id"
            raise ConfigError(f"cannot load a CLIP model from {name} ({where}): {str(exc).splitlines()[0][:200]}") from None
        mean, std = CLIP_MEAN, CLIP_STD
        pre = Path(source) / "preprocessor_config.json"
        if pre.is_file():
            cfg = json.loads(pre.read_text())
            mean, std = tuple(cfg.get("image_mean", mean)), tuple(cfg.get("image_std", std))
        return cls(model, tokenizer, mean, std)

    def save(self, folder: str | Path) -> None:
        """``save_pretrained`` of the model and tokenizer, and the pixel statistics."""
        folder = Path(folder)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        (folder / "preprocessor_config.json").write_text(json.dumps(
            {"image_mean": list(self.mean), "image_std": list(self.std), "size": self.image_size}))

    # ------------------------------------------------------------------ embeddings
    def pixels(self, frames: Any) -> Any:
        """``(..., S, S, 3)`` uint8 RGB -> normalised ``(..., 3, S, S)`` float."""
        import torch

        x = frames.float().div(255.0)
        mean = torch.tensor(self.mean, device=x.device).view(3)
        std = torch.tensor(self.std, device=x.device).view(3)
        x = (x - mean) / std
        return x.movedim(-1, -3).contiguous()

    def texts(self, captions: list[str]) -> Any:
        """L2-normalised text embeddings ``(N, P)``."""
        import torch.nn.functional as F

        device = next(self.model.parameters()).device
        limit = int(getattr(self.model.config.text_config, "max_position_embeddings", 77))
        tok = self.tokenizer(captions, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        out = self.model.text_model(input_ids=tok["input_ids"].to(device), attention_mask=tok["attention_mask"].to(device),
                                    return_dict=True)
        return F.normalize(self.model.text_projection(out.pooler_output), dim=-1)

    def frames(self, frames: Any) -> tuple[Any, Any]:
        """Per-frame global embeddings ``(B, T, P)`` and projected patch grids ``(B, T, P, G, G)``."""
        b, t = frames.shape[:2]
        px = self.pixels(frames.reshape(b * t, *frames.shape[2:]))
        vm = self.model.vision_model
        out = vm(pixel_values=px.to(next(self.model.parameters()).dtype), return_dict=True)
        glob = self.model.visual_projection(out.pooler_output).reshape(b, t, -1)
        patches = out.last_hidden_state[:, 1:]  # the class token first
        g = int(round(patches.shape[1] ** 0.5))
        if g * g != patches.shape[1]:
            raise DataError(f"the vision tower's {patches.shape[1]} patch tokens are not a square grid")
        proj = self.model.visual_projection(vm.post_layernorm(patches))  # (B*T, G*G, P)
        grid = proj.transpose(1, 2).reshape(b, t, proj.shape[-1], g, g)
        return glob, grid

    def encode(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Video embeddings ``(B, P)`` and, for regions the mask keeps on at least one frame,
        their features ``(K, P)`` (frame-averaged) with their captions."""
        import torch.nn.functional as F

        device = next(self.model.parameters()).device
        frames = batch["frames"].to(device)
        boxes, mask = batch["boxes"].to(device), batch["bbox_mask"].to(device)
        glob, grid = self.frames(frames)
        video = F.normalize(F.normalize(glob, dim=-1).mean(1), dim=-1)
        bi, ti, ri = mask.nonzero(as_tuple=True)  # only boxes that are there are aligned
        feats = roi_align(grid[bi, ti], boxes[bi, ti, ri]) if len(bi) else grid.new_zeros((0, grid.shape[2]))
        b, _, r = mask.shape
        slot = bi * r + ri  # region (video b, region r)
        sums = feats.new_zeros((b * r, feats.shape[1])).index_add(0, slot, F.normalize(feats, dim=-1))
        counts = mask.sum(1).reshape(-1)
        keep = counts.nonzero(as_tuple=True)[0]
        regions = F.normalize(sums[keep] / counts[keep, None], dim=-1)
        captions = [batch["region_captions"][int(k) // r][int(k) % r] for k in keep]
        return {"video": video, "regions": regions, "region_captions": captions}

    def losses(self, batch: dict[str, Any], region_weight: float = 1.0) -> dict[str, Any]:
        """``global``, ``region`` (0 when the batch has fewer than two regions) and ``total`` losses."""
        enc = self.encode(batch)
        scale = self.model.logit_scale
        g = info_nce(enc["video"], self.texts(batch["global_captions"]), scale)
        if enc["regions"].shape[0] >= 2:
            r = info_nce(enc["regions"], self.texts(enc["region_captions"]), scale)
        else:
            r = g.new_zeros(())
        return {"global": g, "region": r, "total": g + region_weight * r}


def tiny_clip(folder: str | Path, texts: list[str], image_size: int = 64, seed: int = 0) -> Path:
    """Save a small randomly initialised ``CLIPModel`` with a word-level tokenizer over ``texts``'
    words to ``folder``: for CPU runs of the training's plumbing, not for results worth keeping."""
    import re

    import torch

    transformers = require("transformers", "FG-CLIP training", extra="train")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = sorted({w for t in texts for w in re.findall(r"[a-z0-9]+|[^\sa-z0-9]", t.lower())})
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    eos = len(vocab)
    vocab["[EOS]"] = eos
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tok.post_processor = processors.TemplateProcessing(single="$A [EOS]", special_tokens=[("[EOS]", eos)])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                                eos_token="[EOS]", model_max_length=77)
    torch.manual_seed(seed)
    config = transformers.CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": 77, "eos_token_id": eos, "pad_token_id": 0,
                     "bos_token_id": 1},
        vision_config={"image_size": image_size, "patch_size": 8, "hidden_size": 64, "intermediate_size": 128,
                       "num_hidden_layers": 2, "num_attention_heads": 4},
        projection_dim=64)
    model = transformers.CLIPModel(config)
    clip = FGClip(model, fast)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clip.save(folder)
    return folder


def as_numpy(x: Any) -> np.ndarray:
    """A tensor's values as a numpy array."""
    return x.detach().float().cpu().numpy()
