"""Alert quality against ground truth: event recall, alert precision, onset, type, latency.

An alert *finds* a ground-truth event of its video when their spans overlap, with ``slack_s``
seconds of tolerance on both sides. An alert that finds no event (or fires on a normal-only
video) is a false alarm. For each found event the first matching alert gives the onset error
and the type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.core.schemas import VideoTruth


@dataclass
class TypeRow:
    """Results for one anomaly type."""

    event_type: str
    events: int
    found: int
    type_right: int


@dataclass
class AlertReport:
    """Everything ``vigil eval alerts`` prints."""

    events: int
    found: int
    recall: float
    alerts: int
    correct_alerts: int
    precision: float | None  # None when there are no alerts: precision is undefined, not perfect
    onset_within_2s: float
    median_onset_error_s: float | None
    type_accuracy: float
    alerts_on_normal_videos: int
    normal_videos: int
    median_latency_s: float | None
    by_type: list[TypeRow] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def video_name(source: str) -> str:
    """The ground-truth name of a source: its file name without the extension."""
    return Path(source).stem


def evaluate_alerts(truth: dict[str, VideoTruth], alerts: list[dict[str, Any]], slack_s: float = 2.0) -> AlertReport:
    """Match alerts to ground-truth events (see the module docstring)."""
    by_video: dict[str, list[dict[str, Any]]] = {}
    for a in alerts:
        by_video.setdefault(video_name(a["source"]), []).append(a)
    events = found = correct = on_normal = 0
    onset_err: list[float] = []
    latencies: list[float] = []
    type_right = 0
    rows: dict[str, TypeRow] = {}
    misses, false_alarms = [], []
    for name, t in sorted(truth.items()):
        video_alerts = sorted(by_video.get(name, []), key=lambda a: a["start_s"])
        if not t.events:
            on_normal += len(video_alerts)
            false_alarms += [f"{name} {a['event_type']} at {a['start_s']:.1f} s" for a in video_alerts]
            continue
        used: set[int] = set()
        for start, end, kind in t.events:
            events += 1
            row = rows.setdefault(kind, TypeRow(kind, 0, 0, 0))
            row.events += 1
            hits = [i for i, a in enumerate(video_alerts) if a["start_s"] <= end + slack_s and a["end_s"] >= start - slack_s]
            if not hits:
                misses.append(f"{name} {kind} {start:.1f}-{end:.1f} s")
                continue
            used.update(hits)
            first = video_alerts[hits[0]]
            found += 1
            row.found += 1
            onset_err.append(abs(first["start_s"] - start))
            if first["event_type"] == kind:
                type_right += 1
                row.type_right += 1
        for i, a in enumerate(video_alerts):
            if i in used:
                correct += 1
            else:
                false_alarms.append(f"{name} {a['event_type']} at {a['start_s']:.1f} s")
    for a in alerts:
        if a.get("latency_s") is not None:
            latencies.append(float(a["latency_s"]))
    n_alerts = sum(len(v) for k, v in by_video.items() if k in truth)
    return AlertReport(
        events=events,
        found=found,
        recall=found / events if events else 0.0,
        alerts=n_alerts,
        correct_alerts=correct,
        precision=correct / n_alerts if n_alerts else None,
        onset_within_2s=float(np.mean([e <= 2.0 for e in onset_err])) if onset_err else 0.0,
        median_onset_error_s=float(np.median(onset_err)) if onset_err else None,
        type_accuracy=type_right / found if found else 0.0,
        alerts_on_normal_videos=on_normal,
        normal_videos=sum(1 for t in truth.values() if not t.events),
        median_latency_s=float(np.median(latencies)) if latencies else None,
        by_type=sorted(rows.values(), key=lambda r: r.event_type),
        misses=misses,
        false_alarms=false_alarms,
    )


def format_alert_report(r: AlertReport) -> str:
    """Human-readable summary."""
    lines = [
        f"events found   {r.found}/{r.events} (recall {r.recall:.2f})",
        f"alerts correct {r.correct_alerts}/{r.alerts} (precision {'n/a' if r.precision is None else f'{r.precision:.2f}'}); "
        f"{r.alerts_on_normal_videos} on {r.normal_videos} normal-only videos",
        f"onset within 2 s for {r.onset_within_2s:.0%} of found events"
        + (f" (median error {r.median_onset_error_s:.1f} s)" if r.median_onset_error_s is not None else ""),
        f"type right for {r.type_accuracy:.0%} of found events",
        f"median alert latency {r.median_latency_s:.1f} s of video after onset" if r.median_latency_s is not None else "no alerts",
        "",
        f"{'type':<18} {'events':>6} {'found':>6} {'type ok':>8}",
    ]
    lines += [f"{row.event_type:<18} {row.events:>6} {row.found:>6} {row.type_right:>8}" for row in r.by_type]
    lines += [f"missed: {m}" for m in r.misses]
    lines += [f"false alarm: {f}" for f in r.false_alarms]
    return "\n".join(lines)
