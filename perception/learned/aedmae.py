"""Self-distilled masked autoencoder (AED-MAE) over whole frames.

A light vision transformer sees frame t with two earlier frames as context (three greyscale
channels), patch tokens partly masked while training, and reconstructs frame t plus an anomaly-map
channel:

- encoder and teacher decoder of ``depth`` blocks each; a student decoder branches after the
  teacher decoder's first block and adds one block of its own;
- stage ``teacher`` trains encoder and teacher with a token-weighted MSE: each token's weight is its
  motion gradient (|frame t - frame t-1|, 3x3 median filtered, the patch's maximum) normalised over
  the frame, so moving things count, not the static background;
- synthetic anomalies are pasted into a share of the training inputs: crops of the camera's own
  moving foreground, flipped, rescaled and moved faster than anything normal. The target keeps the
  clean frame and sets the anomaly-map channel where the paste is; the paste also raises its
  tokens' weights, and a head on the encoder's class token learns which inputs had a paste
  (binary cross-entropy);
- stage ``student`` freezes everything shared and trains the student to reproduce the teacher's
  output with the same weights.

At inference nothing is masked. A frame's per-pixel map is ``alpha`` x the teacher's predicted
anomaly-map channel (what it learned to mark where anomalies were pasted) plus ``beta`` x the
teacher-student difference, each weighted by the frame's motion gradient (scaled to [0, 1]) and in
units of its normal spread, smoothed over space and the last three frames; its maximum plus
``gamma`` x the class score is the raw frame score. (The teacher's error on the frame itself
separates little on real footage: Ped2's shared half, micro AUC 0.61 alone, against 0.90 for the
anomaly channel and 0.88 for the teacher-student difference, 0.91 for both.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.score.frame_scorer import (
    Checkpointer,
    FrameScorer,
    ScorerConfig,
    ScoreStream,
    TrainProgress,
    TrainReport,
    positive,
    register_scorer,
    run_steps,
    sample_indices,
    set_threads,
)
from vigil.core.errors import ConfigError

MAX_CROPS = 400  # foreground crops kept for pasting


@dataclass
class AedMaeConfig(ScorerConfig):
    """Settings of the masked autoencoder."""

    patch: int = 8
    dim: int = 64
    heads: int = 4
    depth: int = 3              # encoder blocks, and teacher decoder blocks
    mask_ratio: float = 0.5     # share of tokens hidden from the encoder while training
    gap: int = 1                # sampled frames between the three input frames
    student_steps: int = 0      # steps of the student stage (0: half of ``steps``)
    anomaly_share: float = 0.5  # share of training inputs with a pasted anomaly
    alpha: float = 1.0          # weight of the teacher's predicted anomaly map
    beta: float = 1.0           # weight of the teacher-student difference
    gamma: float = 0.0          # weight of the class score (see the README: it lowers AUC on real footage)
    smooth_s: float = 1.0       # the temporal Gaussian on frame scores (sigma, seconds)
    motion_weighted: bool = True  # weight the maps by the motion gradient at inference

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size % self.patch:
            raise ConfigError(f"aedmae size {self.size} must be a multiple of patch {self.patch}")
        if self.dim % self.heads:
            raise ConfigError(f"aedmae dim {self.dim} must be a multiple of heads {self.heads}")
        if not 0 <= self.mask_ratio < 1:
            raise ConfigError(f"aedmae mask_ratio {self.mask_ratio}: must be in [0, 1)")
        if not 0 <= self.anomaly_share <= 1:
            raise ConfigError(f"aedmae anomaly_share {self.anomaly_share}: must be in [0, 1]")
        if self.depth < 2 or self.gap < 1:
            raise ConfigError("aedmae depth must be at least 2 and gap at least 1")


def build_mae(cfg: AedMaeConfig, shape: tuple[int, int]) -> Any:
    """The autoencoder with its teacher and student decoders and the class head."""
    import torch
    from torch import nn

    p, dim = cfg.patch, cfg.dim
    gh, gw = shape[0] // p, shape[1] // p
    n_tokens = gh * gw

    def block() -> nn.Module:
        return nn.TransformerEncoderLayer(dim, cfg.heads, 2 * dim, dropout=0.0, activation="gelu",
                                          batch_first=True, norm_first=True)

    class Mae(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Conv2d(3, dim, p, stride=p)
            self.pos = nn.Parameter(torch.randn(1, n_tokens, dim) * 0.02)
            self.cls = nn.Parameter(torch.zeros(1, 1, dim))
            self.encoder = nn.ModuleList([block() for _ in range(cfg.depth)])
            self.enc_norm = nn.LayerNorm(dim)
            self.dec_embed = nn.Linear(dim, dim)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.dec_pos = nn.Parameter(torch.randn(1, n_tokens + 1, dim) * 0.02)
            self.teacher = nn.ModuleList([block() for _ in range(cfg.depth)])
            self.teacher_norm = nn.LayerNorm(dim)
            self.teacher_pred = nn.Linear(dim, p * p * 2)
            self.student = block()
            self.student_norm = nn.LayerNorm(dim)
            self.student_pred = nn.Linear(dim, p * p * 2)
            self.cls_head = nn.Linear(dim, 1)

        def student_parameters(self) -> list[nn.Parameter]:
            return [*self.student.parameters(), *self.student_norm.parameters(), *self.student_pred.parameters()]

        def forward(self, x: torch.Tensor, mask_ratio: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """(teacher patches, student patches, class logit); patches (B, L, p*p*2)."""
            b = x.shape[0]
            tokens = self.embed(x).flatten(2).transpose(1, 2) + self.pos
            keep = n_tokens
            restore = None
            if mask_ratio > 0:
                keep = max(1, int(n_tokens * (1 - mask_ratio)))
                order = torch.argsort(torch.rand(b, n_tokens), dim=1)
                restore = torch.argsort(order, dim=1)
                tokens = torch.gather(tokens, 1, order[:, :keep, None].expand(-1, -1, dim))
            h = torch.cat([self.cls.expand(b, -1, -1), tokens], 1)
            for blk in self.encoder:
                h = blk(h)
            h = self.enc_norm(h)
            logit = self.cls_head(h[:, 0]).squeeze(1)
            d = self.dec_embed(h)
            body = d[:, 1:]
            if restore is not None:
                body = torch.cat([body, self.mask_token.expand(b, n_tokens - keep, -1)], 1)
                body = torch.gather(body, 1, restore[:, :, None].expand(-1, -1, dim))
            d = torch.cat([d[:, :1], body], 1) + self.dec_pos
            d = self.teacher[0](d)
            s = self.student_pred(self.student_norm(self.student(d)))[:, 1:]
            for blk in self.teacher[1:]:
                d = blk(d)
            t = self.teacher_pred(self.teacher_norm(d))[:, 1:]
            return t, s, logit

    return Mae()


def patchify(img: Any, p: int) -> Any:
    """(B, C, H, W) -> (B, L, p*p*C)."""
    b, c, h, w = img.shape
    x = img.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(x: Any, p: int, shape: tuple[int, int], c: int) -> Any:
    """(B, L, p*p*C) -> (B, C, H, W)."""
    b = x.shape[0]
    gh, gw = shape[0] // p, shape[1] // p
    return x.reshape(b, gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, gh * p, gw * p)


def motion_gradient(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """|cur - prev| with a 3x3 median filter (uint8 in, float32 out)."""
    return cv2.medianBlur(cv2.absdiff(cur, prev), 3).astype(np.float32)


def token_weights(grad: Any, anomaly: Any, p: int) -> Any:
    """Per token: the patch's largest motion gradient (raised where an anomaly is pasted), summing to 1."""
    import torch

    floor = torch.full((grad.shape[0], 1, 1, 1), 128.0)
    g = grad + anomaly * torch.maximum(floor, grad.amax(dim=(1, 2, 3), keepdim=True))
    w = torch.nn.functional.max_pool2d(g, p).flatten(1) + 1e-3
    return w / w.sum(1, keepdim=True)


@dataclass
class _Crop:
    pixels: np.ndarray  # (h, w) uint8
    mask: np.ndarray    # (h, w) bool


def foreground_crops(videos: Sequence[np.ndarray], gap: int, rng: np.random.Generator, limit: int = MAX_CROPS) -> list[_Crop]:
    """Crops of the camera's own moving foreground (the things to paste as synthetic anomalies).

    A region counts when its motion gradient stands far above the frame's typical one; crops are
    cut from the later frame with the moving pixels as their mask.
    """
    crops: list[_Crop] = []
    tries = 0
    lengths = [len(v) for v in videos]
    while len(crops) < limit and tries < 6 * limit:
        tries += 1
        v, i = next(sample_indices(lengths, gap, 1, rng))
        g = motion_gradient(videos[v][i - gap], videos[v][i])
        thr = max(12.0, float(np.quantile(g, 0.98)))
        mask = cv2.dilate((g > thr).astype(np.uint8), np.ones((3, 3), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        for k in range(1, n):
            x, y, w, h, area = stats[k]
            if area < 12 or w < 3 or h < 3 or w * h > 0.25 * g.size:
                continue
            crops.append(_Crop(videos[v][i][y:y + h, x:x + w].copy(), labels[y:y + h, x:x + w] == k))
            if len(crops) >= limit:
                break
    return crops


def paste(frames: np.ndarray, crop: _Crop, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paste a flipped, rescaled crop into three frames, moving fast; returns (frames, mask of the last)."""
    out = frames.copy()
    h, w = frames.shape[1:]
    scale = float(rng.uniform(0.8, 1.8))
    pix, msk = crop.pixels, crop.mask.astype(np.uint8)
    if rng.random() < 0.5:
        pix, msk = pix[:, ::-1], msk[:, ::-1]
    ch, cw = max(2, int(pix.shape[0] * scale)), max(2, int(pix.shape[1] * scale))
    ch, cw = min(ch, h - 1), min(cw, w - 1)
    pix = cv2.resize(np.ascontiguousarray(pix), (cw, ch))
    msk = cv2.resize(np.ascontiguousarray(msk), (cw, ch), interpolation=cv2.INTER_NEAREST).astype(bool)
    # faster than normal walking: several of the crop's own widths per second of sampled frames
    speed = float(rng.uniform(0.15, 0.5)) * max(ch, cw) * (1 if rng.random() < 0.5 else -1)
    vertical = rng.random() < 0.3
    y0, x0 = int(rng.integers(0, h - ch)), int(rng.integers(0, w - cw))
    last = np.zeros((h, w), dtype=np.float32)
    n = len(frames)
    for j in range(n):
        shift = int(round(speed * (j - (n - 1))))
        y, x = (y0 + shift, x0) if vertical else (y0, x0 + shift)
        y, x = int(np.clip(y, 0, h - ch)), int(np.clip(x, 0, w - cw))
        region = out[j, y:y + ch, x:x + cw]
        region[msk] = pix[msk]
        if j == n - 1:
            last[y:y + ch, x:x + cw][msk] = 1.0
    return out, last


@register_scorer("aedmae")
class AedMaeScorer(FrameScorer):
    """Self-distilled masked autoencoder scorer (see the module docstring)."""

    config_class = AedMaeConfig

    def __init__(self, config: ScorerConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        import torch

        torch.manual_seed(config.seed)
        self.cfg: AedMaeConfig = config  # type: ignore[assignment]
        self.model = build_mae(self.cfg, shape)

    @property
    def context(self) -> int:  # type: ignore[override]
        return 2 * self.cfg.gap

    @property
    def network(self) -> Any:
        return self.model

    def component_names(self) -> list[str]:
        return ["anomaly_map", "student_gap", "class_score"]

    def component_weights(self) -> list[float]:
        return [self.cfg.alpha, self.cfg.beta, self.cfg.gamma]

    def _batch(self, videos: Sequence[np.ndarray], lengths: list[int], crops: list[_Crop],
               rng: np.random.Generator) -> tuple[Any, Any, Any, Any, Any]:
        import torch

        g = self.cfg.gap
        xs, targets, grads, maps, flags = [], [], [], [], []
        for v, i in sample_indices(lengths, 2 * g, self.cfg.batch_size, rng):
            frames = videos[v][[i - 2 * g, i - g, i]]
            amap = np.zeros(frames.shape[1:], dtype=np.float32)
            pasted = bool(crops) and rng.random() < self.cfg.anomaly_share
            if pasted:
                frames, amap = paste(frames, crops[int(rng.integers(len(crops)))], rng)
            xs.append(frames)
            targets.append(videos[v][i])
            grads.append(motion_gradient(frames[1], frames[2]))
            maps.append(amap)
            flags.append(float(pasted and amap.any()))
        x = torch.from_numpy(np.stack(xs).astype(np.float32) / 127.5 - 1.0)
        clean = torch.from_numpy(np.stack(targets).astype(np.float32)[:, None] / 127.5 - 1.0)
        amap = torch.from_numpy(np.stack(maps)[:, None])
        target = torch.cat([clean, amap * 2.0 - 1.0], 1)
        grad = torch.from_numpy(np.stack(grads)[:, None])
        return x, target, grad, amap, torch.tensor(flags)

    def train(self, videos: Sequence[np.ndarray], *, progress: TrainProgress | None = None,
              checkpoint: Path | None = None, resume: bool = False) -> list[TrainReport]:
        import torch

        cfg = self.cfg
        set_threads(cfg.threads)
        rng = np.random.default_rng(cfg.seed)
        lengths = [len(v) for v in videos]
        crops = foreground_crops(videos, cfg.gap, rng) if cfg.anomaly_share > 0 else []
        model = self.model
        ckpt = Checkpointer(checkpoint, cfg.checkpoint_every)
        p = cfg.patch

        # stage 1: encoder + teacher decoder + class head
        teacher_params = [q for n, q in model.named_parameters() if not n.startswith("student")]
        opt = torch.optim.AdamW(teacher_params, lr=cfg.lr, weight_decay=0.05)
        model.train()

        def teacher_step(_: int) -> float:
            x, target, grad, amap, flags = self._batch(videos, lengths, crops, rng)
            t, _, logit = model(x, cfg.mask_ratio)
            w = token_weights(grad, amap, p)
            rec = (((t - patchify(target, p)) ** 2).mean(-1) * w).sum(1).mean()
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, flags)
            loss = rec + 0.1 * bce
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.item())

        first = run_steps("teacher", cfg.steps, teacher_step, model, opt, ckpt, progress, resume)

        # stage 2: only the student, towards the teacher's output
        for q in model.parameters():
            q.requires_grad_(False)
        for q in model.student_parameters():
            q.requires_grad_(True)
        opt2 = torch.optim.AdamW(model.student_parameters(), lr=cfg.lr, weight_decay=0.05)

        def student_step(_: int) -> float:
            x, _, grad, amap, _ = self._batch(videos, lengths, crops, rng)
            t, s, _ = model(x, cfg.mask_ratio)
            w = token_weights(grad, amap, p)
            loss = (((s - t.detach()) ** 2).mean(-1) * w).sum(1).mean()
            opt2.zero_grad()
            loss.backward()
            opt2.step()
            return float(loss.item())

        second = run_steps("student", cfg.student_steps or max(1, cfg.steps // 2), student_step, model, opt2, ckpt,
                           progress, resume)
        for q in model.parameters():
            q.requires_grad_(True)
        model.eval()
        return [first, second]

    def maps(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per input of a batch ((B, 3, H, W) uint8): the teacher's anomaly map (its second output
        channel, 0 = normal, 1 = anomaly) and the teacher-student difference (H, W), each weighted
        by the frame's motion gradient scaled to [0, 1], and the class probability."""
        import torch

        p = self.cfg.patch
        x = torch.from_numpy(frames.astype(np.float32) / 127.5 - 1.0)
        with torch.inference_mode():
            t, s, logit = self.model(x, 0.0)
            err = ((unpatchify(t, p, self.shape, 2)[:, 1] + 1.0) / 2.0).numpy()
            gap = unpatchify((t - s) ** 2, p, self.shape, 2).mean(1).numpy()
            prob = torch.sigmoid(logit).numpy()
        if self.cfg.motion_weighted:
            # only what moves can be an anomaly here: a still background the decoder renders
            # imperfectly is not one
            for i, f in enumerate(frames):
                g = motion_gradient(f[1], f[2])
                g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
                err[i] *= g
                gap[i] *= g
        return err, gap, prob

    def stream(self) -> ScoreStream:
        return _MaeStream(self)


class _MaeStream(ScoreStream):
    def __init__(self, scorer: AedMaeScorer, batch: int = 8) -> None:
        self.s = scorer
        self.batch = batch
        self.frames: list[np.ndarray] = []
        self.pending: list[tuple[float, np.ndarray]] = []
        self.recent: list[tuple[np.ndarray, np.ndarray]] = []  # the last maps, for smoothing over time

    def push(self, t: float, frame: np.ndarray) -> list[tuple[float, Any]]:
        g = self.s.cfg.gap
        self.frames = (self.frames + [frame])[-(2 * g + 1):]
        if len(self.frames) == 2 * g + 1:
            self.pending.append((t, np.stack([self.frames[0], self.frames[g], self.frames[-1]])))
        return self.flush() if len(self.pending) >= self.batch else []

    def flush(self) -> list[tuple[float, Any]]:
        if not self.pending:
            return []
        times = [p[0] for p in self.pending]
        x = np.stack([p[1] for p in self.pending])
        self.pending = []
        errs, gaps, probs = self.s.maps(x)
        out: list[tuple[float, Any]] = []
        for t, e, d, c in zip(times, errs, gaps, probs):
            # 3D smoothing: spatial Gaussian, then the mean of this and the two previous maps
            e = cv2.GaussianBlur(e, (0, 0), 1.5)
            d = cv2.GaussianBlur(d, (0, 0), 1.5)
            self.recent = (self.recent + [(e, d)])[-3:]
            e = np.mean([r[0] for r in self.recent], axis=0)
            d = np.mean([r[1] for r in self.recent], axis=0)
            if self.components:
                out.append((t, (float(e.max()), float(d.max()), float(c))))
                continue
            sc = self.s.normal_scale
            cfg = self.s.cfg
            m_e, h_e = sc.get("anomaly_map", (0.0, 1.0))
            m_d, h_d = sc.get("student_gap", (0.0, 1.0))
            m_c, h_c = sc.get("class_score", (0.0, 1.0))
            pixel = cfg.alpha * (e - m_e) / (h_e - m_e) + cfg.beta * (d - m_d) / (h_d - m_d)
            out.append((t, positive(float(pixel.max() + cfg.gamma * (c - m_c) / (h_c - m_c)))))
        return out
