"""What the camera's normal objects are like, one row per normal track: the yardstick of rule confidences.

Fitting follows every object of the normal footage (:mod:`perception.fitting`); :class:`TrackNorms`
keeps, per track, its class-group probabilities (confidence-weighted means over its detections),
its sustained speed (90th percentile of one-second feet velocities, body heights per second),
how long it was on screen, and its median feet point. A type rule asks how far its evidence lies
beyond the camera's normal tracks (:meth:`TrackNorms.confidence`): "this bicycle's wheeled
probability", "this person's speed", each against the same statistic of the normal tracks (only
those whose feet were inside a given zone, when the rule is about a zone). The answer is on the
scale of the anomaly scores (:class:`TailCalibration`): 0.05 at the normal median, 0.5 at the
estimated 99.9th percentile of normal tracks, approaching 1 beyond, so a rule's
``confidence_threshold`` means the same on every camera.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.detect import GROUPS
from perception.track.tracking import PersonScale, Track, frame_aspect

#: per-track statistics (columns of :attr:`TrackNorms.rows`)
NORM_FEATURES: tuple[str, ...] = (*(f"p_{g}" for g in GROUPS), "speed", "duration_s", "x", "y")
#: fewer normal tracks than this say too little about the tail: rules keep their fixed confidences
MIN_TRACKS = 20
#: the ``detection`` settings :attr:`TrackNorms.evidence` is measured with
TRACK_SETTINGS: tuple[str, ...] = ("fallen_height", "lying_speed", "group_size", "fight_jitter", "dwell_speed")
#: what :attr:`TrackNorms.evidence` holds: the rules' evidence on named people, measured on normal tracks
TRACK_EVIDENCE: tuple[str, ...] = ("drops", "scuffles")


@dataclass(frozen=True)
class TailCalibration:
    """Monotone map of a statistic to [0, 1]: the normal median to 0.05, the estimated 99.9th
    percentile of normal values (``high``) to 0.5, a logistic in between and beyond (each
    ``high - median`` further multiplies the odds by 19).

    The 99.9th percentile is extrapolated from the values above the 90th percentile with an
    exponential tail (peaks over a threshold): a few hundred normal tracks hold only a handful
    of values that high, and the largest one alone says little. Where most values are equal
    (a statistic that is zero for nearly every normal track), fewer than a tenth lie above the
    90th percentile; the tail is extrapolated from the share that does.
    """

    median: float
    high: float

    @classmethod
    def fit(cls, values: np.ndarray, floor: float = 1e-3, least: float = 0.0) -> TailCalibration:
        """From normal values; ``floor`` is the least ``high - median`` (the statistic's unit) and
        the tail's scale when no value lies above the 90th percentile; ``least`` the least ``high``."""
        v = np.asarray(values, np.float64)
        v = v[np.isfinite(v)]
        if v.size == 0:
            raise ValueError("no normal values to calibrate on")
        med = float(np.median(v))
        u = float(np.quantile(v, 0.9))
        excess = v[v > u] - u
        if excess.size:
            # P(X > u) = share above u (0.1 unless values tie at u) -> P(X > high) = 0.001
            high = u + float(excess.mean()) * max(0.0, math.log(excess.size / v.size / 1e-3))
        else:
            high = u + max(u - med, floor) * math.log(100.0)
        return cls(med, max(high, med + floor, least))

    def __call__(self, value: float) -> float:
        z = (float(value) - self.high) / max(self.high - self.median, 1e-9) * math.log(19.0)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def inverse(self, confidence: float) -> float:
        """The value this calibration maps to ``confidence`` (in (0, 1))."""
        c = min(max(float(confidence), 1e-6), 1 - 1e-6)
        return self.high + math.log(c / (1 - c)) / math.log(19.0) * max(self.high - self.median, 1e-9)


def measured_otherwise(measured: dict[str, float], settings: dict[str, float]) -> bool:
    """Whether normal statistics ``measured`` with some ``detection`` settings were measured
    otherwise than a rule with ``settings`` measures (a setting they were not measured with at all
    counts as different)."""
    return any(k not in measured or abs(measured[k] - float(v)) > 1e-6 for k, v in settings.items())


class TrackNorms:
    """The camera's normal tracks as statistics rows (see the module docstring).

    It also keeps, per normal person track the detector names, what the rules on named people
    measure (:data:`TRACK_EVIDENCE`, :func:`perception.track.scene.normal_track_evidence`): the longest
    its box looked fallen toward or away from the camera (``drops``; in a crowd people are
    hidden below the knees for a moment), and the longest it stayed close to another in one
    spot, both erratic (``scuffles``; boxes jitter in a crowd): the yardsticks of falls seen as a
    height drop (:meth:`drop_calibration`) and of fights between named people
    (:meth:`scuffle_calibration`).

    Args:
        rows: ``(N, len(NORM_FEATURES))`` one row per normal track.
        evidence: seconds per normal person track (any number of tracks), by :data:`TRACK_EVIDENCE` name.
        measured: the ``detection`` settings (:data:`TRACK_SETTINGS`) ``evidence`` was measured with.
    """

    def __init__(self, rows: np.ndarray, evidence: dict[str, np.ndarray] | None = None,
                 measured: dict[str, float] | None = None) -> None:
        self.rows = np.asarray(rows, np.float32).reshape(-1, len(NORM_FEATURES))
        self.evidence = {k: np.asarray(v, np.float32).ravel() for k, v in (evidence or {}).items()}
        self.measured = {k: float(v) for k, v in (measured or {}).items()}
        self._cache: dict[tuple[str, str, str], TailCalibration | None] = {}

    @classmethod
    def fit(cls, videos: Sequence[tuple[Sequence[Track], tuple[int, int] | None]], scale: PersonScale,
            min_detections: int = 3, evidence: dict[str, np.ndarray] | None = None,
            measured: dict[str, float] | None = None) -> TrackNorms:
        """From the tracks of each normal video with its frame size (tracks seen at least
        ``min_detections`` times), with the rules' evidence on normal people when measured (see
        the class)."""
        rows = [track_row(tr, scale, frame_aspect(size) if size else 4 / 3) for tracks, size in videos for tr in tracks
                if tr.detections >= min_detections]
        return cls(np.array(rows, np.float32), evidence, measured)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        return self.rows[:, NORM_FEATURES.index(name)]

    def calibration(self, stat: str, group: str | None = None, zone: Any = None) -> TailCalibration | None:
        """The :class:`TailCalibration` of ``stat`` over the normal tracks that were mostly
        ``group`` (its probability the largest) and whose median feet point lies inside ``zone``
        (anything with ``name`` and ``contains(x, y)``, e.g. a :class:`~vigil.core.config.Zone`), or
        ``None`` with fewer than :data:`MIN_TRACKS` of them."""
        key = (stat, group or "", getattr(zone, "name", "") if zone is not None else "")
        if key not in self._cache:
            keep = np.ones(len(self.rows), bool)
            if group is not None and len(self.rows):
                keep &= self.rows[:, : len(GROUPS)].argmax(axis=1) == GROUPS.index(group)
            if zone is not None and len(self.rows):
                keep &= _in_zone(self.column("x"), self.column("y"), zone)
            values = self.rows[keep, NORM_FEATURES.index(stat)] if len(self.rows) else np.zeros(0)
            floor = 0.02 if stat.startswith("p_") else 0.05  # probabilities; body heights/s and seconds
            self._cache[key] = TailCalibration.fit(values, floor) if len(values) >= MIN_TRACKS else None
        return self._cache[key]

    def confidence(self, stat: str, value: float, group: str | None = None, zone: Any = None) -> float | None:
        """How far ``value`` lies beyond the normal tracks' ``stat`` (0..1; see :meth:`calibration`),
        or ``None`` when there are too few normal tracks to say."""
        cal = self.calibration(stat, group, zone)
        return None if cal is None else cal(value)

    def drop_calibration(self, least: float = 0.0, **settings: float) -> TailCalibration | None:
        """The :class:`TailCalibration` of the normal height drops (seconds): see :meth:`evidence_calibration`."""
        return self.evidence_calibration("drops", least, **settings)

    def scuffle_calibration(self, least: float = 0.0, **settings: float) -> TailCalibration | None:
        """The :class:`TailCalibration` of the normal scuffles (seconds): see :meth:`evidence_calibration`."""
        return self.evidence_calibration("scuffles", least, **settings)

    def evidence_calibration(self, name: str, least: float = 0.0, **settings: float) -> TailCalibration | None:
        """The :class:`TailCalibration` of :attr:`evidence` ``name`` (seconds), its ``high`` at
        least ``least``, or ``None`` with fewer than :data:`MIN_TRACKS` values or when ``settings``
        (the rule's :data:`TRACK_SETTINGS`) differ from those it was measured with."""
        values = self.evidence.get(name)
        if values is None or len(values) < MIN_TRACKS or measured_otherwise(self.measured, settings):
            return None
        key = (name, "", str(float(least)))
        if key not in self._cache:
            self._cache[key] = TailCalibration.fit(values, 0.05, least)
        return self._cache[key]

    # ------------------------------------------------------------------ persistence
    def arrays(self) -> dict[str, np.ndarray]:
        return {"rows": self.rows, **self.evidence}

    def settings(self) -> dict[str, Any]:
        return {"features": list(NORM_FEATURES), "measured": self.measured}

    @classmethod
    def restore(cls, settings: dict, arrays: dict[str, np.ndarray]) -> TrackNorms | None:
        """``None`` when the profile's statistics differ from today's (refit to get them back);
        profiles fitted before the rules' evidence was measured have none (those rules keep fixed
        confidences)."""
        if list(settings.get("features", [])) != list(NORM_FEATURES) or "rows" not in arrays:
            return None
        return cls(arrays["rows"], {k: arrays[k] for k in TRACK_EVIDENCE if k in arrays}, dict(settings.get("measured", {})))


#: per blob-track statistics (columns of :attr:`BlobNorms.rows`)
BLOB_FEATURES: tuple[str, ...] = ("vehicle_s", "rest_s", "lying_s", "scuffle_s", "speed", "x", "y")


#: the ``detection`` settings :data:`BLOB_FEATURES` are measured with
BLOB_SETTINGS: tuple[str, ...] = ("vehicle_size", "still_speed", "lying_aspect", "lying_speed", "group_size",
                                   "fight_jitter", "dwell_speed")


class BlobNorms:
    """The camera's normal foreground-blob tracks (the scene facts of its normal footage), one
    row of :data:`BLOB_FEATURES` per track: how long it was vehicle-sized and moving
    (:meth:`perception.track.track_facts.TrackFacts.vehicle_s`), how long it lay at rest if it was a small
    object (:meth:`perception.track.track_facts.TrackFacts.rest_stretch`), how long it looked like someone
    lying if it was person-sized (:meth:`perception.track.track_facts.TrackFacts.lying`), how long it stayed
    within reach of another person-sized track in one spot with one of them erratic if it was
    person-sized (:meth:`perception.track.track_facts.TrackFacts.scuffle_s`, its longest with any other),
    how fast it kept going if it was person-sized, seen 1.5 s and not a piece of a vehicle
    (:meth:`perception.track.track_facts.TrackFacts.sustained_speed`, the running rule's measure; each NaN
    for the other kinds), and its median feet point.

    The yardstick of the rules on unnamed blobs: people walking together merge into one
    vehicle-sized blob for a moment, pieces of people (a shadow, a limb) lie still for a moment,
    two people walking side by side make one wide, slow blob for a moment, blobs of people
    passing each other merge and split erratically for a moment, a blob that splits or merges
    jumps for a moment, and how long such moments last and how fast such jumps look is the
    camera's own.

    Per restricted zone of the camera at fitting time, it also keeps how long each track's feet
    were inside it (:meth:`zone_calibration`): nobody belongs there, so on most cameras that is
    zero for every track and any stay is far beyond normal; where the normal footage shows
    people cutting across a corner of the zone, a short stay is not.

    Args:
        rows: ``(N, len(BLOB_FEATURES))``.
        measured: the camera's ``detection`` settings the rows were measured with
            (:data:`BLOB_SETTINGS` at fitting time): a rule compares only against rows measured
            as it measures.
        zone_s: ``(N, Z)`` seconds inside each of ``zones`` per track.
        zones: ``(name, polygon)`` of the zones ``zone_s`` was measured in.
    """

    def __init__(self, rows: np.ndarray, measured: dict[str, float], zone_s: np.ndarray | None = None,
                 zones: Sequence[tuple[str, Sequence[Sequence[float]]]] = ()) -> None:
        table = np.asarray(rows, np.float32)
        if table.size == 0:
            table = table.reshape(0, len(BLOB_FEATURES))
        if table.ndim != 2 or table.shape[1] != len(BLOB_FEATURES):
            raise ValueError(f"blob norm rows need {len(BLOB_FEATURES)} columns ({', '.join(BLOB_FEATURES)})")
        self.rows = table
        self.measured = {k: float(v) for k, v in measured.items()}
        self.zones = [(str(name), [[float(v) for v in pt] for pt in poly]) for name, poly in zones]
        inside = np.zeros((len(table), len(self.zones)), np.float32) if zone_s is None else np.asarray(zone_s, np.float32)
        if inside.shape != (len(table), len(self.zones)):
            raise ValueError(f"zone_s needs one row per track and one column per zone, not {inside.shape}")
        self.zone_s = inside
        self._cache: dict[tuple[str, str, float], TailCalibration | None] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def calibration(self, stat: str, zone: Any = None, least: float = 0.0,
                    settings: dict[str, float] | None = None) -> TailCalibration | None:
        """The :class:`TailCalibration` of ``stat`` over the normal blob tracks whose median feet
        point lies inside ``zone``, its ``high`` at least ``least`` (the rule's configured least
        evidence, in the statistic's unit), or ``None`` with fewer than :data:`MIN_TRACKS` of them
        or when ``settings`` (the rule's) differ from those the rows were measured with."""
        if settings and measured_otherwise(self.measured, settings):
            return None
        key = (stat, getattr(zone, "name", "") if zone is not None else "", float(least))
        if key not in self._cache:
            col = {name: self.rows[:, i] for i, name in enumerate(BLOB_FEATURES)}
            values = col[stat][_in_zone(col["x"], col["y"], zone)]
            values = values[np.isfinite(values)]
            self._cache[key] = TailCalibration.fit(values, 0.05, least) if len(values) >= MIN_TRACKS else None
        return self._cache[key]

    def zone_calibration(self, zone: Any, least: float = 0.0) -> TailCalibration | None:
        """The :class:`TailCalibration` of the seconds the normal tracks' feet spent inside
        ``zone`` (anything with ``name`` and ``polygon``), its ``high`` at least ``least``, or
        ``None`` when the zone was not measured at fitting time (added or redrawn since) or
        there are fewer than :data:`MIN_TRACKS` tracks."""
        polygon = [[float(v) for v in pt] for pt in getattr(zone, "polygon", ())]
        column = next((k for k, (name, poly) in enumerate(self.zones)
                       if name == getattr(zone, "name", None) and poly == polygon), None)
        if column is None or len(self.zone_s) < MIN_TRACKS:
            return None
        key = ("zone_s", self.zones[column][0], float(least))
        if key not in self._cache:
            self._cache[key] = TailCalibration.fit(self.zone_s[:, column], 0.05, least)
        return self._cache[key]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"rows": self.rows, "zone_s": self.zone_s}

    def settings(self) -> dict[str, Any]:
        return {"features": list(BLOB_FEATURES), "measured": self.measured,
                "zones": [{"name": name, "polygon": poly} for name, poly in self.zones]}

    @classmethod
    def restore(cls, settings: dict, arrays: dict[str, np.ndarray]) -> BlobNorms | None:
        """The stored norms, their columns matched to today's :data:`BLOB_FEATURES` by name: a
        statistic measured only since the profile was fitted comes back as NaN, so its rule keeps
        its fixed confidence until the camera is fitted again while the others stay calibrated.
        ``None`` when the rows do not match their stored names or lack the feet point; profiles
        fitted before zone stays were measured have none."""
        stored = [str(name) for name in settings.get("features", [])]
        rows = np.asarray(arrays.get("rows", np.zeros((0, 0))), np.float32)
        if "rows" not in arrays or rows.ndim != 2 or rows.shape[1] != len(stored) or not {"x", "y"} <= set(stored):
            return None
        table = np.full((len(rows), len(BLOB_FEATURES)), np.nan, np.float32)
        for i, name in enumerate(BLOB_FEATURES):
            if name in stored:
                table[:, i] = rows[:, stored.index(name)]
        zones = [(z["name"], z["polygon"]) for z in settings.get("zones", [])]
        if not zones or "zone_s" not in arrays:
            return cls(table, dict(settings.get("measured", {})))
        return cls(table, dict(settings.get("measured", {})), arrays["zone_s"], zones)


def _in_zone(xs: np.ndarray, ys: np.ndarray, zone: Any) -> np.ndarray:
    """Which points ``(xs, ys)`` lie inside ``zone`` (all of them when ``zone`` is ``None``)."""
    if zone is None:
        return np.ones(len(xs), bool)
    return np.array([bool(zone.contains(float(x), float(y))) for x, y in zip(xs, ys)], bool)


def track_row(track: Track, scale: PersonScale, aspect: float, t0: float | None = None,
              t1: float | None = None) -> np.ndarray:
    """The :data:`NORM_FEATURES` of one track (over ``[t0, t1]`` when given)."""
    obs = track.between(t0, t1) or list(track.observations)
    v = track.velocities(scale, aspect, t0, t1, baseline_s=1.0)
    speed = float(np.quantile(np.hypot(v[:, 0], v[:, 1]), 0.9)) if len(v) else 0.0
    feet = np.array([o.feet for o in obs], float)
    return np.concatenate([track.groups(t0, t1), [speed, obs[-1].t - obs[0].t, *np.median(feet, axis=0)]]).astype(np.float32)
