"""What the type rules take and give: their thresholds, the cell scorer's signals, their verdicts.

Kept apart from :mod:`agents.rules` (which re-exports them) so the rules module holds the
rules themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds of the type rules (body heights per second, seconds, person areas, ratios).

    The camera's ``detection:`` section sets them (:meth:`from_config`); the defaults here are
    that section's. ``loiter_s`` and ``object_s`` are minutes on real sites.
    """

    run_speed: float = 1.5
    lying_aspect: float = 1.3
    lying_s: float = 1.5
    lying_speed: float = 1.0     # a person down on the ground stays put
    fallen_height: float = 0.5   # share of the standing height below which a detected person is down
    loiter_s: float = 120.0
    intrusion_s: float = 1.0
    vehicle_s: float = 1.0
    object_s: float = 60.0
    fight_jitter: float = 0.6
    dwell_speed: float = 0.35    # body heights per second: slower is staying in one spot
    vehicle_size: float = 3.5    # person areas: a car is 4-9 even head-on; three people walking together about 3
    group_size: float = 2.5      # person areas: larger boxes are vehicles or groups, not one person lying

    @classmethod
    def from_config(cls, det: Any) -> RuleSettings:
        """The rule thresholds of a camera's :class:`~vigil.core.config.DetectionConfig`."""
        return cls(run_speed=det.run_speed, lying_aspect=det.lying_aspect, lying_s=det.lying_s, lying_speed=det.lying_speed,
                   fallen_height=det.fallen_height,
                   loiter_s=det.loiter_s, intrusion_s=det.intrusion_s, vehicle_s=det.vehicle_s, object_s=det.abandoned_s,
                   fight_jitter=det.fight_jitter, dwell_speed=det.dwell_speed, vehicle_size=det.vehicle_size,
                   group_size=det.group_size)


@dataclass(frozen=True)
class TypeEvidence:
    """A rule's verdict on one anomaly type."""

    event_type: str
    confidence: float
    evidence: str
    track_id: int | None = None
    start_s: float | None = None  # when the condition began


@dataclass(frozen=True)
class CellSignals:
    """What the detector measured at the unusual cell over an event's strong windows."""

    speed: float = 0.0       # highest 75th-percentile speed (body heights / s)
    jitter: float = 0.0      # median velocity change (body heights / s)
    size: float = 0.0        # median blob size (person areas)
    large_rarity: float = 0.0  # highest rarity of large blobs there (0..1)
    dwell: float = 0.0       # highest dwell (0..1)
    persist_aspect: float = 0.0
    windows: int = 0
    first_t: float | None = None  # start of the first strong window

    @classmethod
    def from_features(cls, features: Sequence[dict[str, float]], first_t: float | None = None) -> CellSignals:
        """Summarise the named cell features of an event's strong windows."""
        rows = [f for f in features if f]
        if not rows:
            return cls()

        def col(name: str) -> np.ndarray:
            return np.array([r.get(name, 0.0) for r in rows], float)

        return cls(
            speed=float(col("speed_high").max()),
            jitter=float(np.median(col("jitter"))),
            size=float(np.median(col("size"))),
            large_rarity=float(col("large_rarity").max()),
            dwell=float(col("dwell").max()),
            persist_aspect=float(col("persist_aspect").max()),
            windows=len(rows),
            first_t=first_t,
        )
