"""An HTML report of what a camera saw: score timelines, events, alerts with keyframes.

Built from the store alone (window scores, events, alerts); ground truth, when given, is drawn
under the timelines. Plots are PNGs (matplotlib) embedded in the page; keyframes and clips are
linked relative to the report, so the folder can be zipped and opened anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vigil.core.schemas import ANOMALY_TYPES, VideoTruth
from vigil.core.store import Store


def _timeline_png(windows: Sequence[Any], events: Sequence[Any], alerts: Sequence[dict[str, Any]],
                  truth: VideoTruth | None, threshold: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 2.2), dpi=90)
    t = [(w.ts_start + w.ts_end) / 2 for w in windows]
    ax.plot(t, [w.anomaly_score for w in windows], color="#1f4e79", lw=1.4, label="score")
    ax.axhline(threshold, color="#999999", lw=0.8, ls="--")
    if truth is not None:
        for start, end, _kind in truth.events:
            ax.axvspan(start, end, color="#f4a261", alpha=0.35, lw=0, label="ground truth")
    for e in events:
        ax.axvspan(e.event_start, e.event_end, ymin=0.92, ymax=1.0, color="#7f7f7f", lw=0)
    for a in alerts:
        ax.axvspan(a["start_s"], a["end_s"], ymin=0.0, ymax=0.08, color="#c0392b", lw=0)
        ax.text(a["start_s"], 1.02, ANOMALY_TYPES.get(a["event_type"], "unknown"), fontsize=7, color="#c0392b")
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("seconds")
    ax.set_ylabel("score")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_report(store: Store, camera_id: str, out: str | Path, *, truth: dict[str, VideoTruth] | None = None,
                 threshold: float = 0.5, title: str = "Vigil report", summary: str = "") -> Path:
    """Write ``out`` (an .html file) for every source of ``camera_id`` in the store."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    base = out.parent.resolve()

    def rel(path: str | None) -> str:
        if not path:
            return ""
        try:
            return os.path.relpath(Path(path).resolve(), base)
        except ValueError:
            return str(path)

    alerts = store.alerts(camera_id)
    events = store.events(camera_id)
    sources = sorted({v["source"] for v in store.videos(camera_id)} | {e.source for e in events})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
        "h2{margin-top:2em;border-bottom:1px solid #ddd}.alert{border-left:4px solid #c0392b;padding:.4em 1em;margin:1em 0;background:#fdf3f2}"
        ".kf img{height:96px;margin:2px;border:1px solid #ccc}.meta{color:#666;font-size:90%}pre{white-space:pre-wrap}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>camera <b>{html.escape(camera_id)}</b>: {len(sources)} source(s), "
        f"{len(events)} candidate event(s), {len(alerts)} alert(s)</p>",
    ]
    if summary:
        parts.append(f"<pre>{html.escape(summary)}</pre>")
    for source in sources:
        name = Path(source).stem
        windows = store.windows(camera_id, source)
        src_events = [e for e in events if e.source == source]
        src_alerts = [a for a in alerts if a["source"] == source]
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if windows:
            png = _timeline_png(windows, src_events, src_alerts, (truth or {}).get(name), threshold)
            parts.append(f"<img alt='score timeline' src='data:image/png;base64,{png}'>")
        if not src_alerts:
            parts.append("<p class='meta'>No alerts.</p>")
        for a in src_alerts:
            exp = a["explanation"]
            kind = ANOMALY_TYPES.get(a["event_type"], "Unknown anomaly")
            parts.append("<div class='alert'>")
            parts.append(f"<b>{html.escape(kind)}</b> {a['start_s']:.1f}-{a['end_s']:.1f} s, confidence "
                         f"{a['confidence']:.2f}, peak score {a['peak_score']:.2f}, "
                         f"<span class='meta'>explained by {html.escape(a['explained_by'])}, "
                         f"{a['latency_s']:.1f} s after onset</span>")
            for key in ("what", "when", "where", "why"):
                parts.append(f"<p><b>{key.capitalize()}.</b> {html.escape(exp[key])}</p>")
            parts.append("<div class='kf'>" + "".join(
                f"<a href='{html.escape(rel(k))}'><img src='{html.escape(rel(k))}' alt='keyframe'></a>" for k in a["keyframes"]) + "</div>")
            if a.get("clip") and Path(a["clip"]).exists():
                parts.append(f"<p><a href='{html.escape(rel(a['clip']))}'>clip</a></p>")
            parts.append("</div>")
    parts.append("</body></html>")
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
