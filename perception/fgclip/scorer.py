"""``vigil fit --scorer fgclip``: a zero-shot frame scorer from an FG-CLIP model and text queries.

Each sampled frame is embedded by the (tuned) CLIP model and compared with text queries: one
for the camera's normal activity and one per anomaly type. Its raw score is the log-odds that
some anomaly query fits the frame better than the normal one (a log-sum-exp over the types'
scaled similarities minus the normal one's); the frame's type is the best-fitting anomaly query.
Nothing is trained at fit time: the normal footage only sets the score's normal spread and the
calibration, as for every frame scorer. The model folder is copied into the camera's profile.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from perception.score.frame_scorer import (
    FrameScorer,
    ScorerConfig,
    ScoreStream,
    TrainProgress,
    TrainReport,
    register_scorer,
)
from vigil.core.errors import ConfigError, DataError

#: the text queries: HIVAU-style phrases, as the model was tuned on (override with --scorer-set)
NORMAL_QUERY = "people walk through the scene normally"
TYPE_QUERIES: dict[str, str] = {
    "running": "a person suddenly running at high speed",
    "falling": "a person falling to the ground and staying down",
    "fighting": "two people fighting each other",
    "loitering": "a person lingering in one place for a long time",
    "intrusion": "a person entering a restricted area",
    "vehicle": "a car driving across the pedestrian area",
    "abandoned_object": "a bag left unattended on the ground",
}
#: where the model is kept inside the profile folder
MODEL_FOLDER = "fgclip-model"


@dataclass
class FGClipScorerConfig(ScorerConfig):
    """Settings of the zero-shot scorer."""

    model: str = ""                 # the FG-CLIP model folder (vigil train fgclip's <out>/model)
    normal_query: str = NORMAL_QUERY
    size: int = 224                 # replaced by the model's own input size
    steps: int = 1                  # nothing is trained
    batch_size: int = 16            # frames per forward pass

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.model:
            raise ConfigError("--scorer fgclip needs the model: --scorer-set model=DIR (vigil train fgclip's <out>/model)")


@register_scorer("fgclip")
class FGClipScorer(FrameScorer):
    """Zero-shot anomaly scores and type names from an FG-CLIP model (see the module docstring)."""

    config_class: ClassVar[type[ScorerConfig]] = FGClipScorerConfig
    colour: ClassVar[bool] = True

    def __init__(self, config: FGClipScorerConfig, shape: tuple[int, int]) -> None:  # type: ignore[override]
        from perception.fgclip.model import FGClip

        super().__init__(config, shape)
        folder = Path(config.model)
        if not (folder / "config.json").is_file():
            raise ConfigError(f"--scorer-set model={config.model}: no CLIP model there (train one with vigil train fgclip)")
        self.clip = FGClip.load(folder)
        self.clip.model.eval()
        self.shape = (self.clip.image_size, self.clip.image_size)
        self.types = list(TYPE_QUERIES)
        import torch

        with torch.no_grad():
            self._queries = self.clip.texts([config.normal_query, *TYPE_QUERIES.values()])
            self._scale = float(self.clip.model.logit_scale.exp().clamp(max=100))

    @classmethod
    def create(cls, frame_shape: tuple[int, int], **settings: Any) -> FrameScorer:
        config = FGClipScorerConfig.from_dict(settings)
        return cls(config, frame_shape)

    @property
    def network(self) -> Any:
        return self.clip.model

    def train(self, videos: Sequence[np.ndarray], *, progress: TrainProgress | None = None,
              checkpoint: Path | None = None, resume: bool = False) -> list[TrainReport]:
        """Nothing to train (zero-shot)."""
        return []

    def stream(self) -> ScoreStream:
        return _Stream(self)

    def component_names(self) -> list[str]:
        return ["anomaly_odds"]

    def judge(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per frame: the raw log-odds of an anomaly query over the normal one, and the best type's index."""
        import torch

        with torch.no_grad():
            glob, _ = self.clip.frames(torch.from_numpy(np.ascontiguousarray(frames))[None])
            emb = torch.nn.functional.normalize(glob[0], dim=-1)
            sims = self._scale * emb @ self._queries.t()  # (N, 1 + types)
            odds = torch.logsumexp(sims[:, 1:], dim=1) - sims[:, 0]
            best = sims[:, 1:].argmax(dim=1)
        return odds.float().cpu().numpy().astype(np.float64), best.cpu().numpy()

    def type_name(self, index: int) -> str:
        return self.types[int(index)]

    # ---------------------------------------------------------------- persistence
    def save(self, path: Path) -> None:
        """The model folder goes next to the profile (``fgclip-model/``); ``path`` records it."""
        folder = path.parent / MODEL_FOLDER
        path.write_text(MODEL_FOLDER + "\n")
        if Path(self.config.model).resolve() == folder.resolve() and (folder / "config.json").is_file():
            return  # the profile saved again (a watch's memory): the model in it has not changed
        tmp = path.parent / (MODEL_FOLDER + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        self.clip.save(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
        self.config.model = str(folder)

    @classmethod
    def load_saved(cls, settings: dict[str, Any], weights: Path) -> FrameScorer:
        folder = weights.parent / MODEL_FOLDER
        if not (folder / "config.json").is_file():
            raise DataError(f"{folder}: the profile's FG-CLIP model is missing; fit the camera again")
        config = dict(settings["config"], model=str(folder))
        obj = cls(FGClipScorerConfig.from_dict(config), tuple(settings["shape"]))  # type: ignore[arg-type]
        obj.normal_scale = {k: (float(v[0]), float(v[1])) for k, v in settings.get("normal_scale", {}).items()}
        return obj


class _Stream(ScoreStream):
    """Frames in batches of ``batch_size``; each frame's score as soon as its batch is full."""

    def __init__(self, scorer: FGClipScorer) -> None:
        self.scorer = scorer
        self.pending: list[tuple[float, np.ndarray]] = []
        self.types: list[tuple[float, str]] = []  # (time, best anomaly type) of every scored frame

    def push(self, t: float, frame: np.ndarray) -> list[tuple[float, Any]]:
        self.pending.append((t, frame))
        return self._run() if len(self.pending) >= self.scorer.config.batch_size else []

    def flush(self) -> list[tuple[float, Any]]:
        return self._run() if self.pending else []

    def _run(self) -> list[tuple[float, Any]]:
        times = [t for t, _ in self.pending]
        odds, best = self.scorer.judge(np.stack([f for _, f in self.pending]))
        self.pending = []
        self.types += [(t, self.scorer.type_name(b)) for t, b in zip(times, best)]
        if self.components:
            return [(t, (float(v),)) for t, v in zip(times, odds)]
        return [(t, self.scorer.combine([float(v)])) for t, v in zip(times, odds)]
