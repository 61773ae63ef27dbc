"""Tripwires: explicit conditions that open a candidate event whatever the normality score says.

The normality model ranks windows by how unusual they are for the camera; a few situations
should reach the agents even when the camera's normal footage was busy enough to make them
look only mildly unusual. Each tripwire reads the named cell features of the motion encoder
(body heights per second, person areas, rarity), so it means the same on every camera. They
only open candidates; the agents still decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tripwires:
    """Thresholds of the tripwires."""

    run_speed: float = 1.8       # body heights per second, person-sized blobs
    vehicle_rarity: float = 0.8  # how rarely large blobs were where this one is (0..1)
    vehicle_size: float = 3.0    # person areas

    def check(self, cells: np.ndarray, names: Sequence[str]) -> str | None:
        """The first tripwire that fires on a window's ``(R, C, F)`` cell features, or ``None``."""
        idx = {n: i for i, n in enumerate(names)}
        if {"speed_high", "size"} <= idx.keys():
            fast = (cells[..., idx["speed_high"]] >= self.run_speed) & (cells[..., idx["size"]] < 2.5) & (cells[..., idx["size"]] > 0.2)
            if fast.any():
                return "running"
        if {"large_rarity", "size"} <= idx.keys():
            vehicle = (cells[..., idx["large_rarity"]] >= self.vehicle_rarity) & (cells[..., idx["size"]] >= self.vehicle_size)
            if vehicle.any():
                return "vehicle"
        return None
