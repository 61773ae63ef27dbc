"""Zone rules in the score: time spent where the camera's own rules say nobody should be or stay.

A camera's ``restricted`` zones say nobody should enter, its ``loitering`` zones that nobody
should stay; these are anomalies by definition, whatever the normal footage showed (a keep-out
area people never walked through scores low on its own if someone stands still in it, since
standing still is ordinary elsewhere). :class:`ZoneOccupancy` follows, from the object path's
detections, how long each such zone has been occupied without a break (the feet of anything
the detector or the foreground found there, or the flow carried there; a gap of one missed
look, or up to the tracker's ``lost_s``, is bridged; tracks are not needed, since people
standing still break theirs).
A window in which a restricted zone has been occupied for ``intrusion_s`` or a loitering zone
for ``loiter_s`` scores at least ``zone_score``
(:class:`~vigil.config.DetectionConfig`), so ``vigil score``, the stored timelines and the
candidate events all see what the type rules will name; in score files the floor covers the
frames from the rule's onset (entering the restricted zone; the stay reaching ``loiter_s``) to
the last moment something was seen inside, without smoothing into the frames around them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: the zone kinds whose occupancy is a rule, and the detection setting that says for how long
RULE_KINDS: dict[str, str] = {"restricted": "intrusion_s", "loitering": "loiter_s"}


@dataclass
class _Stretch:
    """One zone's current stretch of occupancy."""

    since: float | None = None  # when the stretch began (None: the zone is empty)
    last: float | None = None   # the latest feet point seen inside


class ZoneOccupancy:
    """How long each rule zone has been occupied (see the module docstring).

    Args:
        zones: the camera's zones (anything with ``name``, ``kind`` and ``contains(x, y)``);
            only ``restricted`` and ``loitering`` ones count.
        need_s: seconds of occupancy that break each kind's rule (``{"restricted": 1.0, ...}``).
        gap_s: a zone unseen for longer than this is empty again.
    """

    def __init__(self, zones: Sequence[Any], need_s: dict[str, float], gap_s: float) -> None:
        self.zones = [z for z in zones if getattr(z, "kind", None) in RULE_KINDS]
        self.need_s = need_s
        self.gap_s = float(gap_s)
        self.reset()

    @classmethod
    def for_camera(cls, zones: Sequence[Any], detection: Any) -> ZoneOccupancy | None:
        """The occupancy of a camera's rule zones (``None`` when it has none)."""
        need = {kind: float(getattr(detection, field)) for kind, field in RULE_KINDS.items()}
        # one look that misses everyone (two ordinary looks apart) does not empty a zone
        rate = detection.detector_fps if detection.detector_fps > 0 else detection.flagged_fps
        occ = cls(zones, need, max(detection.track_lost_s, 2.0 / rate) + 1e-3)
        return occ if occ.zones else None

    def reset(self) -> None:
        """Start a new source."""
        self._stretches = [_Stretch() for _ in self.zones]
        self._done_t: float | None = None

    def update(self, feet: Iterable[tuple[float, np.ndarray]], t0: float, t1: float) -> list[tuple[Any, float, float]]:
        """Take the feet points seen up to ``t1`` (``(time, (K, 2) normalised points)`` per frame the
        object path looked at, :attr:`~perception.objects.ObjectStage.feet`); returns ``(zone,
        start, end)`` for each zone whose rule held in the window ``[t0, t1]``: from the rule's
        onset (for a restricted zone the moment its occupancy began, which may lie before the
        window; for a loitering zone the moment the stay reached ``loiter_s``) until the last
        time something was seen inside."""
        after = self._done_t
        spans: dict[int, list[float]] = {}
        for t, points in feet:
            if t > t1 + 1e-6 or (after is not None and t <= after + 1e-6):
                continue
            for k, zone in enumerate(self.zones):
                if not any(zone.contains(float(x), float(y)) for x, y in points):
                    continue
                st = self._stretches[k]
                if st.last is None or t - st.last > self.gap_s:
                    st.since = t
                st.last = t if st.last is None else max(st.last, t)
                need = self.need_s[zone.kind]
                if t >= t0 - 1e-6 and st.since is not None and t - st.since >= need - 1e-6:
                    # entering a restricted zone is the violation; a stay becomes loitering once it lasted
                    onset = st.since if zone.kind == "restricted" else st.since + need
                    span = spans.setdefault(k, [onset, t])
                    span[1] = t
        self._done_t = t1 if after is None else max(after, t1)
        for st in self._stretches:
            if st.last is not None and t1 - st.last > self.gap_s:
                st.since = st.last = None
        return [(self.zones[k], a, b) for k, (a, b) in sorted(spans.items())]
