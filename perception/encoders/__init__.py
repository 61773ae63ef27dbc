"""Window encoders: one registry, one interface.

An :class:`Encoder` turns a :class:`~perception.source.windows.Window` into an :class:`Embedding`: a
clip-level vector plus a grid of per-cell vectors, so that scores can be localised in the frame.
Encoders are chosen by name (``get_encoder("motion")``); heavy ones import their dependencies
only when constructed.

============  ==========================================================================
``motion``    embedded default, no weights: optical flow, foreground against a learned
              background and blob shape statistics per grid cell (:mod:`.motion`)
``vjepa2``    transformers ``VJEPA2Model``; mean-pooled tokens and token grids pooled per
              cell (:mod:`.vjepa2`)
============  ==========================================================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.source.windows import Window
from vigil.core.registry import Registry


@dataclass(frozen=True)
class Embedding:
    """What an encoder says about one window.

    Attributes:
        vector: ``(D,)`` float32 clip-level embedding.
        cells: ``(R, C, F)`` float32 per-cell vectors on the encoder's grid (row 0 at the top).
    """

    vector: np.ndarray
    cells: np.ndarray


class Encoder(ABC):
    """Turns windows of frames into embeddings.

    Encoders may keep state across consecutive windows of one source (the motion encoder
    caches per-frame work and tracks dwell); :meth:`reset` starts a new source.
    """

    #: registry name
    name: str = ""
    #: names of the per-cell features, when they mean something to a person (else None)
    feature_names: tuple[str, ...] | None = None
    #: True when every feature reads "more is stranger" (enables one-sided exceedance tests)
    one_sided: bool = False
    #: features that say how rare the *place* is rather than what happens there: the normality
    #: model's position term already weighs them, so they are not tested one-sidedly
    place_features: tuple[str, ...] = ()

    @property
    @abstractmethod
    def grid(self) -> tuple[int, int]:
        """Rows and columns of the cell grid."""

    @property
    @abstractmethod
    def version(self) -> str:
        """Identifies features: scores from different versions are not comparable."""

    def fit(self, frames_per_video: Iterable[Iterable[np.ndarray]]) -> None:  # noqa: B027 - optional hook
        """Learn whatever the encoder needs from normal footage (e.g. a background)."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget per-source state before a new source."""

    @abstractmethod
    def embed(self, window: Window) -> Embedding:
        """Embed one window."""

    def embed_batch(self, windows: Sequence[Window]) -> list[Embedding]:
        """Embed several windows (encoders that batch on an accelerator override this)."""
        return [self.embed(w) for w in windows]

    def state(self) -> dict[str, Any]:
        """JSON-able settings plus arrays needed to rebuild the encoder (saved in profiles)."""
        return {"name": self.name, "config": {}, "arrays": {}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Encoder:
        """Rebuild an encoder saved with :meth:`state`."""
        return cls(**state.get("config", {}))


def _load_builtins() -> None:
    # importing the modules registers them; vjepa2 defers torch until constructed
    from perception.encoders import motion, vjepa2  # noqa: F401


#: the encoders, by name (unknown names raise ``ValueError`` naming the known ones)
ENCODERS: Registry[Encoder] = Registry("encoder", ValueError, builtins=_load_builtins)
#: class decorator adding an encoder to the registry under ``name``
register_encoder = ENCODERS.register
#: names of the registered encoders
encoder_names = ENCODERS.names
#: the class registered as ``name``; raises ``ValueError`` naming the known ones
encoder_class = ENCODERS.get


def get_encoder(name: str, **config: Any) -> Encoder:
    """Build the encoder registered as ``name`` with ``config``."""
    return encoder_class(name)(**config)
