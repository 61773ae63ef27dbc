"""The background of a fixed camera, learned from its normal footage, and what differs from it.

- **Background**: the per-pixel median of normal frames (at a working resolution).
- **Light**: each frame's light is compared with the background's per block of the image
  (a ``gain_grid`` of blocks, per colour channel, from medians, so people do not sway it) and
  the expected background is scaled block by block, smoothly: sun on one side of a square and
  shade on the other are both followed, not one global gain.
- **Noise**: how much each pixel of normal footage differs from its expected background, as a
  robust spread (median absolute deviation, leaving out the frames where something passed); a
  pixel is foreground when it differs by more than ``sigma`` spreads (at least ``floor`` grey
  levels). Sensor noise, compression and swaying leaves set the threshold, not a constant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class BackgroundSettings:
    """How foreground is told from background (see the module docstring)."""

    sigma: float = 4.0      # robust spreads of normal noise above which a pixel is foreground
    floor: float = 10.0     # grey levels: the least difference that counts, however quiet the pixel
    ceiling: float = 60.0   # grey levels: the most a noisy pixel's threshold may reach
    gain_grid: int = 4      # blocks per side over which the light is followed

    def __post_init__(self) -> None:
        if not (self.sigma > 0 and 0 < self.floor <= self.ceiling <= 255 and 1 <= self.gain_grid <= 32):
            raise ValueError(f"invalid background settings: {self}")


class BackgroundModel:
    """A fitted background with its per-pixel noise threshold.

    Args:
        background: ``(h, w, 3)`` float32 per-pixel median of normal frames.
        threshold: ``(h, w)`` float32 grey-level difference above which a pixel is foreground.
        settings: the settings it was fitted with.
    """

    def __init__(self, background: np.ndarray, threshold: np.ndarray | None = None,
                 settings: BackgroundSettings | None = None) -> None:
        self.settings = settings or BackgroundSettings()
        self.background = np.asarray(background, np.float32)
        h, w = self.background.shape[:2]
        self.threshold = (np.full((h, w), self.settings.floor * 2.0, np.float32) if threshold is None
                          else np.asarray(threshold, np.float32))
        self._bg_u8 = np.clip(np.round(self.background), 0, 255).astype(np.uint8)
        self._bg_blocks = self._blocks(self.background)

    @property
    def shape(self) -> tuple[int, int]:
        """``(h, w)`` of the working resolution."""
        return self.background.shape[:2]  # type: ignore[return-value]

    @classmethod
    def fit(cls, frames: Iterable[np.ndarray], settings: BackgroundSettings | None = None, max_frames: int = 400) -> BackgroundModel:
        """Learn the background and its noise from normal frames (RGB, all at the working size)."""
        s = settings or BackgroundSettings()
        stack = np.stack([np.asarray(f, np.uint8) for f in frames])
        if len(stack) == 0:
            raise ValueError("no frames to learn a background from")
        if len(stack) > max_frames:  # bound memory; an even subsample keeps the median honest
            stack = stack[np.linspace(0, len(stack) - 1, max_frames).astype(int)]
        background = np.median(stack, axis=0).astype(np.float32)
        model = cls(background, None, s)
        diffs = np.stack([model.difference(f) for f in stack]).astype(np.float32)  # (N, h, w)
        # leave out where something passed: per pixel, the differences above its 80th percentile
        cut = np.quantile(diffs, 0.8, axis=0)
        masked = np.where(diffs <= cut[None], diffs, np.nan)
        mad = np.nanmedian(masked, axis=0)
        noise = cv2.GaussianBlur(np.nan_to_num(mad, nan=s.floor).astype(np.float32), (0, 0), 1.5)
        model.threshold = np.clip(s.sigma * 1.4826 * noise, s.floor, s.ceiling).astype(np.float32)
        return model

    def _blocks(self, image: np.ndarray) -> np.ndarray:
        g = self.settings.gain_grid
        return cv2.resize(np.asarray(image, np.float32), (g, g), interpolation=cv2.INTER_AREA)

    def expected(self, image: np.ndarray) -> np.ndarray:
        """The background as it should look under the light of ``image`` (uint8)."""
        g = self.settings.gain_grid
        h, w = self.shape
        # block medians are robust to people; INTER_AREA gives block means, so median via a subsample
        small = cv2.resize(image, (g * 8, g * 8), interpolation=cv2.INTER_AREA).reshape(g, 8, g, 8, 3)
        bg = cv2.resize(self._bg_u8, (g * 8, g * 8), interpolation=cv2.INTER_AREA).reshape(g, 8, g, 8, 3)
        med_img = np.median(small, axis=(1, 3))
        med_bg = np.maximum(np.median(bg, axis=(1, 3)), 1.0)
        gain = np.clip(med_img / med_bg, 0.25, 4.0).astype(np.float32)
        gain_map = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(self.background * gain_map, 0, 255).astype(np.uint8)

    def difference(self, image: np.ndarray) -> np.ndarray:
        """``(h, w)`` uint8: the largest channel difference from the expected background."""
        diff = cv2.absdiff(np.asarray(image, np.uint8), self.expected(image))
        return cv2.max(cv2.max(diff[..., 0], diff[..., 1]), diff[..., 2])

    def foreground(self, image: np.ndarray) -> np.ndarray:
        """``(h, w)`` bool mask of what is not background (``image`` at the working size)."""
        return self.difference(image) > self.threshold

    # ------------------------------------------------------------------ persistence
    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to save."""
        return {"background": self.background, "threshold": self.threshold}

    def config(self) -> dict[str, Any]:
        """JSON-able settings."""
        s = self.settings
        return {"sigma": s.sigma, "floor": s.floor, "ceiling": s.ceiling, "gain_grid": s.gain_grid}

    @classmethod
    def restore(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> BackgroundModel:
        """Rebuild from :meth:`config` and :meth:`arrays`."""
        return cls(arrays["background"], arrays.get("threshold"), BackgroundSettings(**config))
