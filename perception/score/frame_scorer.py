"""What every frame scorer is: the :class:`FrameScorer` interface, its settings, the shared
training loop and checkpoints, and the registry scorers join by name.

A frame scorer is a per-camera model that scores each sampled frame by how badly it explains it
(higher = more anomalous). :class:`FrameScorer` is what the pipeline sees: ``stream()`` turns
sampled frames into raw per-frame scores, calibrated like the cell scores on held-out normal
frames. The scorers themselves live in :mod:`perception.learned` (``framepred``, ``aedmae``) and
:mod:`perception.fgclip.scorer` (``fgclip``); importing :mod:`perception.learned` registers all
of them. torch is imported only inside functions that need it.
"""

from __future__ import annotations

import math
import os
import pickle
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from vigil.core.errors import ConfigError, DataError, first_line
from vigil.core.registry import Registry

#: what a damaged or foreign weights file raises when torch loads it
LOAD_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, EOFError, KeyError, ValueError,
                                                pickle.UnpicklingError)

#: a progress callback: (stage, step, total, loss)
TrainProgress = Callable[[str, int, int, float], None]

@dataclass
class ScorerConfig:
    """Settings every frame scorer has (each scorer's config adds its own)."""

    size: int = 128            # long side of the model's greyscale frames, pixels (a multiple of 16)
    steps: int = 1500          # training steps
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    smooth_s: float = 0.0      # temporal Gaussian on the frame scores (sigma, seconds; 0: none)
    threads: int = 0           # torch threads while training (0: every core)
    checkpoint_every: int = 100  # steps between resumable checkpoints

    def __post_init__(self) -> None:
        if self.size < 32 or self.size % 16:
            raise ConfigError(f"scorer size {self.size}: must be a multiple of 16 and at least 32")
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"scorer {name} {getattr(self, name)}: must be at least 1")
        if not self.lr > 0:
            raise ConfigError(f"scorer lr {self.lr}: must be positive")
        if self.smooth_s < 0:
            raise ConfigError(f"scorer smooth_s {self.smooth_s}: must not be negative")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ScorerConfig:
        """Build from a dict, naming unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown scorer setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)


def model_shape(frame_shape: tuple[int, int], size: int) -> tuple[int, int]:
    """(height, width) of the model's frames: the long side ``size``, both multiples of 16."""
    h, w = frame_shape
    scale = size / max(h, w)
    return max(16, int(round(h * scale / 16)) * 16), max(16, int(round(w * scale / 16)) * 16)


def to_model_frame(image: np.ndarray, shape: tuple[int, int], colour: bool = False) -> np.ndarray:
    """A sampled frame (colour or grey uint8) as the model's uint8 frame of ``shape``: greyscale,
    or with ``colour`` the frame's own three channels."""
    if colour:
        rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


@dataclass
class TrainReport:
    """What a training run did."""

    stage: str
    steps: int
    loss_first: float
    loss_last: float
    seconds: float
    resumed_from: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def load_detail(exc: BaseException) -> str:
    """Why torch could not load a file, in one line; for a file its weights-only loader refused, the
    reason under torch's page-long message (an unsupported global, an unknown opcode)."""
    if isinstance(exc, pickle.UnpicklingError):
        inner = exc.__context__ if isinstance(exc.__context__, pickle.UnpicklingError) else exc
        # its first sentence: what was refused (the rest advises allow-listing it)
        return first_line(inner, 120).split(". ")[0].rstrip(".")
    return first_line(exc, 120)


def unloadable(path: str | Path, exc: BaseException, fix: str) -> DataError:
    """The one-line error for a checkpoint torch could not load: refused or damaged, and ``fix``."""
    if isinstance(exc, pickle.UnpicklingError):
        return DataError(f"{path}: refused: not tensors and plain values only (damaged, or holding objects whose "
                         f"loading could run code: {load_detail(exc)}); {fix}")
    return DataError(f"{path}: damaged checkpoint ({load_detail(exc)}); {fix}")


def set_threads(n: int) -> None:
    """Use ``n`` torch threads (0: every core)."""
    import torch

    torch.set_num_threads(max(1, n or (os.cpu_count() or 1)))


def need_torch(name: str) -> Any:
    """torch, or an error that names the extra to install."""
    from vigil.core.imports import require

    return require("torch", f"the {name} scorer", extra="learned")


def positive(total: float) -> float:
    """``exp(total)``, bounded: the raw-score form of a sum in units of normal spreads."""
    return float(math.exp(min(max(total, -50.0), 50.0)))


def mean_of(losses: Sequence[float]) -> float:
    """Mean of the finite values (NaN without any)."""
    vals = [v for v in losses if math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


class FrameScorer(ABC):
    """A per-camera model that scores sampled frames.

    Subclasses define ``config_class``, build their network in ``__init__`` and implement
    :meth:`train`, :meth:`stream` and :meth:`component_names`.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ScorerConfig]] = ScorerConfig
    #: frames of history a score needs (the first ``context`` frames of a source get none)
    context: ClassVar[int] = 0
    #: the model reads colour frames (H, W, 3), not greyscale ones
    colour: ClassVar[bool] = False

    def __init__(self, config: ScorerConfig, shape: tuple[int, int]) -> None:
        self.config = config
        self.shape = shape
        #: per score component: (median, high) of held-out normal frames, for combining them
        self.normal_scale: dict[str, tuple[float, float]] = {}

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(cls, frame_shape: tuple[int, int], **settings: Any) -> FrameScorer:
        """A fresh scorer for frames of ``frame_shape`` (height, width) with ``settings``."""
        config = cls.config_class.from_dict(settings)
        need_torch(cls.name)
        return cls(config, model_shape(frame_shape, config.size))

    @property
    @abstractmethod
    def network(self) -> Any:
        """The torch module whose weights are saved."""

    @abstractmethod
    def train(self, videos: Sequence[np.ndarray], *, progress: TrainProgress | None = None,
              checkpoint: Path | None = None, resume: bool = False) -> list[TrainReport]:
        """Train on normal footage: one (N, H, W) uint8 array of model frames per video."""

    @abstractmethod
    def stream(self) -> ScoreStream:
        """A fresh scorer state for one source."""

    def component_names(self) -> list[str]:
        """Names of the raw score's parts (their normal scales are learned at fit time)."""
        return ["score"]

    # ---------------------------------------------------------------- scoring
    def score_video(self, frames: np.ndarray, times: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw scores of one video's model frames: (times, scores) of the frames that have one."""
        times = np.arange(len(frames), dtype=np.float64) if times is None else times
        st = self.stream()
        out = [r for t, f in zip(times, frames) for r in st.push(float(t), f)]
        out += st.flush()
        if not out:
            return np.zeros(0), np.zeros(0)
        ts, vs = zip(*out)
        return np.asarray(ts), np.asarray(vs, dtype=np.float64)

    def component_video(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Per-component raw frame values of one video (for learning their normal scales)."""
        st = self.stream()
        st.components = True
        rows = [r for i, f in enumerate(frames) for r in st.push(float(i), f)] + st.flush()
        names = self.component_names()
        return {n: np.asarray([r[1][j] for r in rows], dtype=np.float64) for j, n in enumerate(names)}

    def fit_scales(self, videos: Sequence[np.ndarray]) -> None:
        """Learn each component's normal median and high from held-out normal videos."""
        parts: dict[str, list[np.ndarray]] = {n: [] for n in self.component_names()}
        for v in videos:
            for n, vals in self.component_video(v).items():
                parts[n].append(vals)
        for n, chunks in parts.items():
            vals = np.concatenate(chunks) if chunks else np.zeros(0)
            if vals.size == 0:
                raise DataError("the held-out normal footage is too short to score any frame")
            med = float(np.median(vals))
            high = float(np.quantile(vals, 0.99))
            # a component that hardly varies on normal footage must not blow up small differences
            self.normal_scale[n] = (med, max(high, med + 1e-3 * (abs(med) + 1.0)))

    def combine(self, parts: Sequence[float]) -> float:
        """One raw score from the components: each in units of its normal spread, weighted, summed.

        Returned as ``exp(sum)`` so raw scores are positive like the cell scores (a normal frame
        is about 1) and the same log-score calibration applies.
        """
        weights = self.component_weights()
        total = 0.0
        for name, value, w in zip(self.component_names(), parts, weights):
            med, high = self.normal_scale.get(name, (0.0, 1.0))
            total += w * (value - med) / (high - med)
        return positive(total)

    def component_weights(self) -> list[float]:
        """Weights of the components in :meth:`combine`."""
        return [1.0] * len(self.component_names())

    # ---------------------------------------------------------------- persistence
    def settings(self) -> dict[str, Any]:
        """JSON-ready settings (config, frame shape, normal scales)."""
        return {"name": self.name, "config": asdict(self.config), "shape": list(self.shape),
                "normal_scale": {k: list(v) for k, v in self.normal_scale.items()}}

    def save(self, path: Path) -> None:
        """Write the network's weights (atomically)."""
        import torch

        tmp = path.with_suffix(".tmp")
        torch.save(self.network.state_dict(), tmp)
        os.replace(tmp, path)

    @classmethod
    def restore(cls, settings: dict[str, Any], weights: Path) -> FrameScorer:
        """Rebuild a saved scorer (of any registered kind: import :mod:`perception.learned` first).

        Raises:
            DataError: the weights file is missing or damaged.
        """
        return FRAME_SCORERS.get(settings["name"]).load_saved(settings, weights)

    @classmethod
    def load_saved(cls, settings: dict[str, Any], weights: Path) -> FrameScorer:
        """This scorer from its saved settings and weights (see :meth:`restore`)."""
        torch = need_torch(cls.name)
        obj = cls(cls.config_class.from_dict(settings["config"]), tuple(settings["shape"]))  # type: ignore[arg-type]
        obj.normal_scale = {k: (float(v[0]), float(v[1])) for k, v in settings.get("normal_scale", {}).items()}
        if obj.normal_scale and set(obj.normal_scale) != set(obj.component_names()):
            raise DataError(f"the camera's {cls.name} scorer was fitted with other score components "
                            f"({', '.join(sorted(obj.normal_scale))}); fit the camera again")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            obj.network.load_state_dict(state)
        except LOAD_ERRORS as exc:
            raise DataError(f"{weights}: damaged or missing scorer weights ({load_detail(exc)}); "
                            "fit the camera again") from None
        obj.network.eval()
        return obj


class ScoreStream(ABC):
    """Per-source scoring state: frames in, (time, raw score) out as soon as each is known."""

    #: with ``True``, results carry the raw components instead of their combination
    components: bool = False

    @abstractmethod
    def push(self, t: float, frame: np.ndarray) -> list[tuple[float, Any]]:
        """Add one model frame; returns the scores that became known."""

    def flush(self) -> list[tuple[float, Any]]:
        """Scores still pending at the end of the source."""
        return []


class Checkpointer:
    """Resumable training state: model, optimiser and step, written every few steps.

    Args:
        path: the checkpoint file (``None``: no checkpoints).
        every: steps between writes.
    """

    def __init__(self, path: Path | None, every: int) -> None:
        self.path = path
        self.every = every

    def load(self, stage: str, network: Any, optimiser: Any) -> tuple[int, list[float]]:
        """Restore a checkpoint of ``stage``; returns (next step, losses so far) or (0, [])."""
        import torch

        if self.path is None or not self.path.is_file():
            return 0, []
        again = "start over without --resume"
        try:
            # tensors and plain values only: a pickle that names any other callable is refused unrun
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except LOAD_ERRORS as exc:
            raise unloadable(self.path, exc, again) from None
        if not (isinstance(state, dict) and {"stage", "step", "model", "optimiser"} <= state.keys()):
            raise DataError(f"{self.path}: not a training checkpoint of a frame scorer; {again}")
        if state["stage"] != stage:
            return (0, []) if _stage_index(state["stage"]) < _stage_index(stage) else (-1, [])
        try:
            network.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            return int(state["step"]), [float(v) for v in state.get("losses", [])]
        except (*LOAD_ERRORS, TypeError, AttributeError) as exc:
            raise DataError(f"{self.path}: the checkpoint does not fit this scorer and its settings "
                            f"({first_line(exc, 120)}); {again}") from None

    def maybe_save(self, stage: str, step: int, total: int, network: Any, optimiser: Any, losses: list[float]) -> None:
        """Write the state after ``step`` (every ``every`` steps and at the end)."""
        import torch

        if self.path is None or (step % self.every and step != total):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save({"stage": stage, "step": step, "model": network.state_dict(),
                    "optimiser": optimiser.state_dict(), "losses": losses}, tmp)
        os.replace(tmp, self.path)


_STAGES = ("train", "teacher", "student")


def _stage_index(stage: str | None) -> int:
    return _STAGES.index(stage) if stage in _STAGES else -1


def run_steps(stage: str, total: int, step_fn: Callable[[int], float], network: Any, optimiser: Any,
              checkpoint: Checkpointer, progress: TrainProgress | None, resume: bool) -> TrainReport:
    """The training loop every scorer shares: steps, checkpoints, resume, progress.

    ``step_fn(step)`` runs one optimisation step and returns its loss. A checkpoint of a later
    stage (returned as step -1 by :meth:`Checkpointer.load`) means this stage is already done.
    """
    start, losses = checkpoint.load(stage, network, optimiser) if resume else (0, [])
    if start < 0:
        return TrainReport(stage, total, float("nan"), float("nan"), 0.0, resumed_from=total)
    t0 = time.perf_counter()
    for step in range(start, total):
        loss = float(step_fn(step))
        if not math.isfinite(loss):
            raise DataError(f"{stage} training diverged at step {step + 1} (loss {loss}); try a lower lr")
        losses.append(loss)
        checkpoint.maybe_save(stage, step + 1, total, network, optimiser, losses)
        if progress:
            progress(stage, step + 1, total, loss)
    head = losses[: max(1, min(20, len(losses) // 10 or 1))]
    tail = losses[-max(1, min(20, len(losses) // 10 or 1)):]
    return TrainReport(stage, total, mean_of(head), mean_of(tail), time.perf_counter() - t0, resumed_from=start)


def sample_indices(lengths: Sequence[int], context: int, n: int, rng: np.random.Generator) -> Iterator[tuple[int, int]]:
    """``n`` random (video, frame) pairs whose frame has ``context`` frames before it."""
    usable = [max(0, L - context) for L in lengths]
    total = sum(usable)
    if total == 0:
        raise DataError(f"the normal footage is too short: each video needs more than {context} sampled frames")
    p = np.asarray(usable, dtype=np.float64) / total
    for v in rng.choice(len(lengths), size=n, p=p):
        yield int(v), int(rng.integers(context, lengths[v]))


#: the frame scorers, by name; the built-in ones register when :mod:`perception.learned` is imported
FRAME_SCORERS: Registry[FrameScorer] = Registry("frame scorer", ConfigError)
#: class decorator: make a frame scorer available as ``vigil fit --scorer NAME``
register_scorer = FRAME_SCORERS.register
