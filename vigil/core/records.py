"""Rows of the store as Python values (see :mod:`vigil.core.store`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WindowRecord:
    """One scored window as stored."""

    camera_id: str
    source: str
    ts_start: float
    ts_end: float
    anomaly_score: float
    is_anomaly: bool
    model_version: str = ""


@dataclass(frozen=True)
class EventRecord:
    """One candidate or confirmed event as stored."""

    event_id: str
    camera_id: str
    source: str
    event_start: float
    event_end: float
    peak_score: float
    event_type: str = "unknown"
    confidence: float = 0.0
    status: str = "candidate"
    explanation: str = ""


@dataclass(frozen=True)
class ClipRecord:
    """A stored clip of an event."""

    event_id: str
    clip_start: float
    clip_end: float
    storage_uri: str
