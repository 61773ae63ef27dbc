"""The semi-automatic engine: raw hierarchical annotations from footage (``--from-footage``).

Each video is decoupled the way HIVAU-70k is, but with Vigil's own perception doing the first
pass:

1. **events**: the spans of the camera's alerts on the video (perception's candidate events as
   judged by the Decider); a video without alerts is one normal event over its whole length;
2. **clips**: each event split into equal parts of about ``clip_s`` seconds;
3. **clip captions**: a vision-language model on frames of the clip when one is configured,
   otherwise a sentence rendered from scene facts (tracked people, vehicles and objects);
4. **event and video summaries** in three parts (whether an anomaly exists and its name; what
   happened from start to end; why it counts as an anomaly) by a language model when one is
   configured, validated, with a template fallback built from the alerts' explanations.

The result is the raw annotation format, written for a person to check and edit, and read back
by :func:`data_engine.hivau.load_annotations` like any other annotation file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from data_engine.hivau import RawVideo, SummarySplit
from perception.track.scene import SceneFacts, TrackFacts
from prompts import load_prompt
from vigil.core.llm import FINAL, ChatBackend, LLMError, ToolSpec, VisionClient, case_file_messages
from vigil.core.schemas import ANOMALY_TYPES
from vigil.core.vision import vlm_or_fallback

log = logging.getLogger(__name__)


@dataclass
class FootageEvent:
    """One alert on a video, as the engine needs it."""

    start_s: float
    end_s: float
    event_type: str   # a Vigil anomaly type or "unknown"
    what: str = ""    # the alert's explanation
    why: str = ""
    region: tuple[float, float, float, float] | None = None  # the alert's box (normalised xyxy)


@dataclass
class FootageVideo:
    """A video and what perception found in it."""

    name: str
    path: str
    fps: float
    n_frames: int
    events: list[FootageEvent] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


Captioner = Callable[[FootageVideo, float, float], str]  # (video, t0, t1) -> caption


def anomaly_name(event_type: str) -> str:
    """The label of an anomaly type as annotations name it ("Vehicle in pedestrian area")."""
    return ANOMALY_TYPES.get(event_type, "Unknown anomaly")


def split_clips(start: float, end: float, clip_s: float = 4.0, max_clips: int = 8) -> list[tuple[float, float]]:
    """An event cut into equal clips of about ``clip_s`` seconds (at least one, at most ``max_clips``)."""
    n = int(np.clip(round((end - start) / clip_s), 1, max_clips))
    edges = np.linspace(start, end, n + 1)
    return [(round(float(a), 2), round(float(b), 2)) for a, b in zip(edges[:-1], edges[1:])]


# ----------------------------------------------------------------------------- captions
def caption_from_facts(facts: SceneFacts, zone_kinds: dict[str, str] | None = None, limit: int = 3) -> str:
    """A plain sentence or two about the most telling tracks of a clip.

    Args:
        zone_kinds: zone name -> kind; only restricted and loitering zones are worth a mention.
    """
    tracks = sorted(facts.tracks, key=lambda t: (-_salience(t), t.track_id))[:limit]
    if not tracks:
        return "The scene is still; no one moves through it."
    notable = {z for z, k in (zone_kinds or {}).items() if k in ("restricted", "loitering")}
    parts = list(dict.fromkeys(_track_sentence(t, notable) for t in tracks))  # track fragments repeat
    return " ".join(p[0].upper() + p[1:] for p in parts)


def _salience(t: TrackFacts) -> float:
    aspects = t.aspects()
    lying = float(aspects.max()) > 1.3 if aspects.size and t.kind == "person" else False
    return t.duration_s + 3.0 * t.sustained_speed(0.9) + 5.0 * lying + 4.0 * sum(t.zones.values() or [0.0]) / 10


def _place(x: float, y: float) -> str:
    """"the far left", "the centre", "the near right" ... of the scene."""
    depth = "far " if y < 0.4 else "near " if y > 0.75 else ""
    side = "left" if x < 0.33 else "right" if x > 0.67 else "centre"
    return f"the {depth}{side}" if depth or side != "centre" else "the centre"


def _track_sentence(t: TrackFacts, notable: set[str]) -> str:
    who = {"person": "a person", "large": "a vehicle or a group of people", "small": "a small object"}[t.kind]
    p0, p1 = t.points[0], t.points[-1]
    speed = t.sustained_speed(0.9)  # over a second: box jitter does not make a walker run
    aspects = t.aspects()
    if t.kind == "person" and aspects.size >= 3 and aspects[-max(1, aspects.size // 4):].mean() > 1.3 and speed < 1.0:
        verb = "goes down to the ground and stays there"
    elif speed < 0.2:
        verb = "lies still" if t.kind == "small" else "stays in one place"
    elif t.kind == "person":
        verb = "runs" if speed > 1.8 else "walks"
    else:
        verb = "moves"
    a, b = _place(p0.x, p0.y), _place(p1.x, p1.y)
    moved = np.hypot(p1.x - p0.x, p1.y - p0.y) >= 0.1 and a != b
    where = f"from {a} to {b} of the scene" if moved else ("in the centre of the scene" if a == "the centre" else f"on {a} of the scene")
    zones = [z for z, sec in t.zones.items() if sec >= 1.0 and z in notable]
    inside = f", spending {t.zones[zones[0]]:.0f} s inside the {zones[0]} zone" if zones else ""
    return f"{who} {verb} {where}{inside}."


def vlm_captioner(vision: VisionClient, read_frames: Callable[[str, float, float], list[np.ndarray]],
                  fallback: Captioner, n_frames: int = 6) -> tuple[Captioner, dict[str, int]]:
    """A captioner that asks the VLM about ``n_frames`` frames of the clip, else uses ``fallback``.

    Returns the captioner and a counter of who captioned (``vlm`` / ``scene facts``).
    """
    counts = {"vlm": 0, "scene facts": 0}
    prompt = load_prompt("caption")

    def caption(video: FootageVideo, t0: float, t1: float) -> str:
        def pick() -> list[np.ndarray] | None:
            frames = read_frames(video.path, t0, t1)
            if not frames:
                return None
            idx = np.unique(np.linspace(0, len(frames) - 1, min(n_frames, len(frames))).round().astype(int))
            return [frames[i] for i in idx]

        seen = vlm_or_fallback(
            vision, pick, lambda n: prompt.render(n_frames=n, start_s=f"{t0:.1f}", end_s=f"{t1:.1f}"),
            lambda: fallback(video, t0, t1), fallback_by="scene facts", task="caption",
            tidy=lambda text: " ".join(text.split()), logger=log)
        counts["vlm" if seen.by_vlm else "scene facts"] += 1
        return seen.text

    return caption, counts


# ----------------------------------------------------------------------------- summaries
def template_summary(events: Sequence[FootageEvent], captions: Sequence[str], span: tuple[float, float]) -> SummarySplit:
    """The three-part summary from the alerts and the clip captions (no model)."""
    told = " ".join(dict.fromkeys(c.rstrip(".") + "." for c in captions[:2]))
    if not events:
        return SummarySplit(judgement="No anomaly exists in the video.",
                            description=f"The video shows ordinary activity from {span[0]:.1f} s to {span[1]:.1f} s. {told}".strip())
    names = list(dict.fromkeys(anomaly_name(e.event_type) for e in events))
    judgement = f"An anomaly exists, specifically, the anomaly is named {' and '.join(names)}."
    what = "; ".join(_strip_type(e.what) for e in events if e.what) or "unusual activity"
    when = ", ".join(f"from {e.start_s:.1f} s to {e.end_s:.1f} s" for e in events)
    description = f"In the anomaly event, {what}, {when}. {told}".strip()
    analysis = " ".join(dict.fromkeys(e.why.split(" The detector scored")[0].strip() for e in events if e.why)) or (
        "The activity is unlike the normal activity of this scene.")
    return SummarySplit(judgement=judgement, description=description, analysis=analysis)


def _strip_type(what: str) -> str:
    """"Falling: a person's outline ..." -> "a person's outline ..." (the name is in the judgement)."""
    head, sep, rest = what.partition(": ")
    text = rest if sep and len(head) < 40 else what
    return text.rstrip(".")


def model_summary(backend: ChatBackend, level: str, events: Sequence[FootageEvent], captions: Sequence[str],
                  span: tuple[float, float]) -> SummarySplit | None:
    """The three-part summary by a language model, validated; ``None`` if it fails twice."""
    case = {
        "alerts": [{"type": anomaly_name(e.event_type), "start_s": round(e.start_s, 1), "end_s": round(e.end_s, 1),
                    "what": e.what, "why": e.why} for e in events] or "no alerts: the activity was judged normal",
        "clip_captions": list(captions) or "no captions",
    }
    msgs = load_prompt("summary").messages(level=level, start_s=f"{span[0]:.1f}", end_s=f"{span[1]:.1f}",
                                           anomalous=bool(events)) + case_file_messages(case)
    spec = [ToolSpec(FINAL, "Give the three-part summary.", SummarySplit)]
    for _attempt in range(2):
        try:
            reply = backend.complete(msgs, spec)
        except LLMError as exc:
            log.warning("summary model unavailable: %s", exc)
            return None
        call = next((c for c in reply.tool_calls if c.name == FINAL), None)
        try:
            if call is None:
                raise ValueError("no final_answer call")
            out = SummarySplit.model_validate(call.arguments)
            if bool(events) != bool(out.analysis):
                raise ValueError("analysis must be given exactly when there is an anomaly")
            return out
        except (ValidationError, ValueError) as exc:
            msgs = [*msgs, {"role": "user", "content": f"That was not valid ({str(exc)[:200]}). Call final_answer again."}]
    return None


def joined(split: SummarySplit) -> str:
    """The free-text summary that goes with a split one, upstream style."""
    text = f"{split.judgement} {split.description.rstrip('.')}."
    if split.analysis:
        text += f" The basis for judging this anomaly is that {split.analysis[0].lower()}{split.analysis[1:]}"
    return text


@dataclass
class EngineCounts:
    """Who wrote the summaries: ``template`` or the model's label -> how many."""

    summaries: dict[str, int] = field(default_factory=dict)

    def add(self, by: str) -> None:
        self.summaries[by] = self.summaries.get(by, 0) + 1


def annotate(
    videos: Sequence[FootageVideo],
    captioner: Captioner,
    backend: ChatBackend | None = None,
    clip_s: float = 4.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, RawVideo], EngineCounts]:
    """Raw annotations for ``videos`` (see the module docstring)."""
    out: dict[str, RawVideo] = {}
    counts = EngineCounts()
    for v in videos:
        alerts = sorted(v.events, key=lambda e: e.start_s)
        spans = [_span(e, v.duration_s) for e in alerts] or [(0.0, round(v.duration_s, 2))]
        groups: list[list[FootageEvent]] = [[e] for e in alerts] or [[]]
        clips, captions, ev_splits = [], [], []
        for (t0, t1), group in zip(spans, groups):
            cl = split_clips(t0, t1, clip_s)
            caps = [captioner(v, a, b) for a, b in cl]
            clips.append(cl)
            captions.append(caps)
            ev_splits.append(_summary(backend, "event", group, caps, (t0, t1), counts))
        all_caps = [c for caps in captions for c in caps]
        video_split = _summary(backend, "video", alerts, all_caps, (0.0, v.duration_s), counts)
        labels = list(dict.fromkeys(anomaly_name(e.event_type) for e in alerts))
        out[v.name] = RawVideo(
            n_frames=v.n_frames, fps=v.fps, label=labels, events=spans, clips=clips, clips_caption=captions,
            events_summary=[joined(s) for s in ev_splits], video_summary=joined(video_split),
            events_summary_split=ev_splits, video_summary_split=video_split,
        )
        if progress:
            progress(v.name)
    return out, counts


def quiet_stretch(windows: Sequence[tuple[float, float, float]], duration: float, length_s: float = 10.0) -> tuple[float, float]:
    """The ``length_s`` seconds of a video whose window scores are lowest on average (the whole
    video when it is shorter, or has no stored scores): a normal video's FG-CLIP segment.

    Args:
        windows: (start, end, score) of the video's stored windows.
    """
    if duration <= length_s or not windows:
        return 0.0, round(duration, 2)
    starts = np.arange(0.0, duration - length_s + 1e-9, 1.0)
    mids = np.array([(a + b) / 2 for a, b, _ in windows])
    scores = np.array([v for _, _, v in windows])
    means = []
    for t in starts:
        inside = (mids >= t) & (mids <= t + length_s)
        means.append(scores[inside].mean() if inside.any() else np.inf)
    t0 = float(starts[int(np.argmin(means))])
    return round(t0, 2), round(t0 + length_s, 2)


def videos_root(paths: Sequence[str]) -> Path:
    """The deepest folder holding every one of ``paths`` (absolute): what FG-CLIP entries are relative to."""
    return Path(os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]))


def fgclip_entries(raw: dict[str, RawVideo], footage: Sequence[FootageVideo],
                   quiet: dict[str, tuple[float, float]] | None = None,
                   tracks: dict[str, list[dict[str, Any]]] | None = None, box_every_s: float = 1.0,
                   root: str | Path | None = None) -> list[dict[str, Any]]:
    """The annotations in the FG-CLIP format (:mod:`perception.fgclip`), one entry per video.

    Each entry's ``video`` is its path relative to ``root`` (default :func:`videos_root` of the
    footage), the folder ``vigil train fgclip --videos`` is then given: names in an annotation
    file never lead outside that folder.

    The global caption is the video summary's description; each alert is a region captioned by
    its event summary's description, its box the alert's region on one source frame per
    ``box_every_s`` seconds of its span, and on the keyframes of tracked objects inside that
    region during the span (``tracks``: the stored track summaries per video) the object's own
    box; a video without alerts is normal and keeps only its quiet stretch (``quiet``, default
    the whole video) as ``timestamps``.
    """
    out = []
    base = os.path.abspath(root if root is not None else videos_root([v.path for v in footage]))
    for v in footage:
        r = raw[v.name]
        rel = Path(os.path.relpath(os.path.abspath(v.path), base)).as_posix()
        entry: dict[str, Any] = {"video": rel, "global_caption": r.video_summary_split.description}
        alerts = sorted(v.events, key=lambda e: e.start_s)
        if not alerts:
            span = (quiet or {}).get(v.name, (0.0, round(v.duration_s, 2)))
            entry.update(region_captions=[], box_infos=[], timestamps=[list(span)])
            out.append(entry)
            continue
        captions, boxes, stamps = [], [], []
        for e, (t0, t1), split in zip(alerts, r.events, r.events_summary_split):
            box = list(e.region or (0.0, 0.0, 1.0, 1.0))
            at = {min(v.n_frames - 1, int(round(t * v.fps))): [round(c, 4) for c in box]
                  for t in np.arange(t0, t1 + 1e-9, box_every_s)}
            for tr in (tracks or {}).get(v.name, []):
                kb, ks = tr.get("keyframe_box"), tr.get("keyframe_s")
                if kb is None or ks is None or not t0 <= float(ks) <= t1:
                    continue
                cx, cy = (kb[0] + kb[2]) / 2, (kb[1] + kb[3]) / 2
                if box[0] - 0.05 <= cx <= box[2] + 0.05 and box[1] - 0.05 <= cy <= box[3] + 0.05:
                    at[min(v.n_frames - 1, int(round(float(ks) * v.fps)))] = [round(float(c), 4) for c in kb]
            captions.append(split.description)
            boxes.append([{"frame": f, "bbox": at[f]} for f in sorted(at)])
            stamps.append([t0, t1])
        entry.update(region_captions=captions, box_infos=boxes, timestamps=stamps)
        out.append(entry)
    return out


def _span(e: FootageEvent, duration: float, min_s: float = 1.0) -> tuple[float, float]:
    """An alert's span inside the video, at least ``min_s`` long (an alert at one instant still gets a clip)."""
    start = max(0.0, min(e.start_s, duration - min_s))
    end = min(duration, max(e.end_s, start + min_s))
    return round(start, 2), round(end, 2)


def _summary(backend: ChatBackend | None, level: str, events: Sequence[FootageEvent], captions: Sequence[str],
             span: tuple[float, float], counts: EngineCounts) -> SummarySplit:
    if backend is not None:
        got = model_summary(backend, level, events, captions, span)
        if got is not None:
            counts.add(backend.label)
            return got
    counts.add("template")
    return template_summary(events, captions, span)

