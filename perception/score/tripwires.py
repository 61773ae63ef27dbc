"""Tripwires: explicit conditions that open a candidate event whatever the normality score says.

The normality model ranks windows by how unusual they are for the camera; a few situations
should reach the agents even when the camera's normal footage was busy enough to make them
look only mildly unusual. Each tripwire reads the named cell features of the motion encoder
(body heights per second, person areas, rarity), so it means the same on every camera. They
only open candidates; the agents still decide.

- ``running``: a person-sized blob moving at ``run_speed`` body heights per second or more;
- ``vehicle``: a vehicle-sized blob where large blobs rarely went in normal footage;
- ``intrusion``: a person's feet in a cell that lies in a restricted zone for most of the
  window (see :meth:`Tripwires.for_zones`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

#: tripwires open candidates whatever the score says, so they fire a margin beyond the type
#: rules' own thresholds (a cell's speed is a quick reading, the rules' a tracked one)
TRIPWIRE_MARGIN = 1.2


@dataclass(frozen=True)
class Tripwires:
    """Thresholds of the tripwires (see :meth:`from_config`)."""

    run_speed: float = 1.5 * TRIPWIRE_MARGIN   # body heights per second, person-sized blobs
    vehicle_rarity: float = 0.8  # how rarely large blobs were where this one is (0..1)
    vehicle_size: float = 3.5 / TRIPWIRE_MARGIN  # person areas
    person_size: float = 2.5     # person areas: blobs larger than this are groups or vehicles
    feet_share: float = 0.5      # of a window's frames with feet in a restricted cell
    restricted: Any = None       # (R, C) bool: cells inside restricted zones (numpy array)

    @classmethod
    def from_config(cls, det: Any) -> Tripwires:
        """The tripwires of a camera's :class:`~vigil.core.config.DetectionConfig`: its running speed
        and vehicle size, with :data:`TRIPWIRE_MARGIN`."""
        return cls(run_speed=det.run_speed * TRIPWIRE_MARGIN, vehicle_size=det.vehicle_size / TRIPWIRE_MARGIN,
                   person_size=det.group_size)

    def for_zones(self, zones: Sequence[Any], grid: tuple[int, int]) -> Tripwires:
        """These tripwires with the restricted zones' cells on a ``grid`` of (rows, cols) cells.

        A cell counts as restricted when most of it lies inside a ``restricted`` zone (sampled
        on a 5 x 5 lattice of points), so a zone's edge does not fire for people passing by.
        """
        rows, cols = grid
        mask = np.zeros((rows, cols), bool)
        polys = [z for z in zones if getattr(z, "kind", None) == "restricted"]
        if not polys:
            return replace(self, restricted=None)
        offsets = (np.arange(5) + 0.5) / 5
        for r in range(rows):
            for c in range(cols):
                pts = [((c + ox) / cols, (r + oy) / rows) for oy in offsets for ox in offsets]
                inside = sum(any(z.contains(x, y) for z in polys) for x, y in pts)
                mask[r, c] = inside >= 13
        return replace(self, restricted=mask if mask.any() else None)

    def check(self, cells: np.ndarray, names: Sequence[str]) -> str | None:
        """The first tripwire that fires on a window's ``(R, C, F)`` cell features, or ``None``."""
        idx = {n: i for i, n in enumerate(names)}
        if {"speed_high", "size"} <= idx.keys():
            fast = (cells[..., idx["speed_high"]] >= self.run_speed) & (cells[..., idx["size"]] < self.person_size) & (cells[..., idx["size"]] > 0.2)
            if fast.any():
                return "running"
        if {"large_rarity", "size"} <= idx.keys():
            vehicle = (cells[..., idx["large_rarity"]] >= self.vehicle_rarity) & (cells[..., idx["size"]] >= self.vehicle_size)
            if vehicle.any():
                return "vehicle"
        if self.restricted is not None and {"feet_occ", "size"} <= idx.keys() and self.restricted.shape == cells.shape[:2]:
            size = cells[..., idx["size"]]
            feet = (cells[..., idx["feet_occ"]] >= self.feet_share) & (size > 0.2) & (size < self.person_size)
            if (feet & self.restricted).any():
                return "intrusion"
        return None
