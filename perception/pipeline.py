"""The streaming path: frames -> windows -> embeddings -> scores -> candidate events.

Decoding runs in a background thread feeding a bounded queue, so it overlaps with the work on
the previous frames (OpenCV, decord and numpy release the GIL). :class:`Scanner` scores one
source with a camera's profile and hands every window and every closed event to the caller;
nothing here calls a language model.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.encoders import Embedding, Encoder
from perception.events import CandidateEvent, EventBuilder, ScoredWindow, ZoneRuleHit
from perception.profile import CameraProfile
from perception.score.engram import EngramStream
from perception.score.frame_scorer import FrameScorer, to_model_frame
from perception.score.head import TypeHead
from perception.score.scoring import Calibration, fuse_levels
from perception.score.tripwires import Tripwires
from perception.source.video import Frame, ReconnectPolicy, VideoSource, open_video
from perception.source.windows import Window, iter_windows
from perception.track.objects import ObjectStage, score_window, window_objects
from perception.track.scene import DetectedObjects
from perception.track.tracking import PersonScale, frame_aspect
from perception.track.zones import LeftObjects, ZoneOccupancy
from vigil.core.config import CameraConfig

_DONE = object()


def threaded_frames(video: VideoSource, maxsize: int = 64, stats: dict[str, float] | None = None) -> Iterator[Frame]:
    """Iterate ``video.frames()`` decoded in a background thread.

    Exceptions from the decoder are re-raised in the caller. If ``stats`` is given, the time
    the caller spent waiting for frames accumulates in ``stats["decode_wait_s"]``.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in video.frames():
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, name="vigil-decode", daemon=True)
    thread.start()
    try:
        while True:
            t0 = time.perf_counter()
            item = q.get()
            if stats is not None:
                stats["decode_wait_s"] = stats.get("decode_wait_s", 0.0) + time.perf_counter() - t0
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def open_camera_video(source: str, cam: CameraConfig, fps: float | None = None) -> VideoSource:
    """Open ``source`` with a camera's sampling, size and reconnect settings."""
    policy = ReconnectPolicy(attempts=cam.reconnect_attempts, max_delay_s=cam.reconnect_max_delay_s)
    return open_video(source, fps=fps or cam.fps, width=cam.frame_width, folder_fps=cam.folder_fps, reconnect=policy)


def embed_windows(
    encoder: Encoder,
    frames: Iterable[Frame],
    *,
    size: int,
    stride: int,
    fps: float,
    batch: int = 1,
) -> Iterator[tuple[Window, Embedding]]:
    """Windows of ``frames`` with their embeddings, batched for encoders that like it."""
    encoder.reset()
    pending: list[Window] = []
    for window in iter_windows(frames, size=size, stride=stride, fps=fps):
        pending.append(window)
        if len(pending) >= batch:
            yield from zip(pending, encoder.embed_batch(pending))
            pending = []
    if pending:
        yield from zip(pending, encoder.embed_batch(pending))


@dataclass
class ScanResult:
    """What a scan of one source produced."""

    source: str
    windows: list[ScoredWindow] = field(default_factory=list)
    events: list[CandidateEvent] = field(default_factory=list)
    frame_times: np.ndarray | None = None  # every source frame (files, folders)
    fps: float | None = None
    n_frames: int | None = None
    duration_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    frames_read: int = 0
    read_until_s: float = 0.0   # end of the last frame read (its time plus one sampling period)
    stopped_early: bool = False  # max_seconds ended the scan before the source did
    # a learned frame scorer's calibrated score per sampled frame: (times, scores), smoothed
    frame_scores: tuple[np.ndarray, np.ndarray] | None = None
    frame_types: list[tuple[float, str]] | None = None  # a frame scorer that names types: (time, type) per frame
    # the objects followed (see Track.summary), with the object path
    tracks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether the scan read the source to its end (a damaged file's end is where decoding stopped)."""
        return not self.stopped_early


class Scanner:
    """Scores sources with a camera profile.

    Args:
        profile: the camera's fitted profile.
        camera: the camera's settings (threshold, window, reconnects ...).
        use_engram: gate scores with the profile's Engram memory, when it has one.
        smooth: windows in the score smoothing.
        tripwires: conditions that open candidate events regardless of the score (``None``: off).
        models_dir: the model cache, for a detector with weights files.
        detector: ``False`` runs the object path without its detector (blobs only) and
            ``None`` without any object path: for benchmarks that measure what each costs.
    """

    def __init__(
        self,
        profile: CameraProfile,
        camera: CameraConfig,
        *,
        use_engram: bool = True,
        smooth: int = 3,
        tripwires: Tripwires | None = None,
        models_dir: str | Path | None = None,
        detector: bool | None = True,
    ) -> None:
        self.profile = profile
        self.camera = camera
        self.encoder = profile.build_encoder()
        self.use_engram = use_engram and profile.engram is not None
        self.smooth = smooth
        # restricted zones become intrusion tripwires on the scorer's cell grid
        self.tripwires = tripwires.for_zones(camera.zones, profile.scorer.grid) if tripwires else None
        self.builder: EventBuilder | None = None
        self.objects: ObjectStage | None = (profile.build_object_stage(models_dir, detector=bool(detector))
                                            if detector is not None else None)
        self._scale = profile.scale()
        fused = profile.fused_calibration
        self._fused = Calibration(float(fused[0]), float(fused[1])) if fused and self.objects is not None else None
        learned = profile.frame_calibration
        self._learned = Calibration(float(learned[0]), float(learned[1])) if profile.frame_scorer and learned else None
        self._frames: FrameScores | None = None
        # time spent in restricted and loitering zones, from what the object path finds (needs the person scale)
        self.zones = (ZoneOccupancy.for_camera(camera.zones, camera.detection, self._scale)
                      if self.objects is not None and camera.detection.zone_score > 0 else None)
        # objects left lying for abandoned_s, from the same looks
        self.left = (LeftObjects.for_camera(camera.detection, self._scale, profile.blob_norms, camera.confidence_threshold)
                     if self.objects is not None and camera.detection.zone_score > 0 else None)

    def scan(
        self,
        source: str,
        *,
        on_window: Callable[[ScoredWindow], None] | None = None,
        on_event: Callable[[CandidateEvent], None] | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        progress: Callable[[float], None] | None = None,
        keep_windows: bool = True,
        max_seconds: float | None = None,
        content_id: str = "",
        stop: threading.Event | None = None,
    ) -> ScanResult:
        """Score every window of ``source``; events are reported as they close.

        Args:
            on_window, on_event: called for each scored window / closed event; while an event
                is open, :attr:`builder` (``open_event()``) shows it so far.
            on_frame: called with every sampled frame, before its windows are scored.
            progress: called with the video time (seconds) reached.
            keep_windows: also collect the windows in the result.
            max_seconds: stop after this much video (live sources).
            content_id: the source's content identity (part of the event ids).
            stop: set it (from another thread) to end the scan as if the source had ended there.
        """
        p = self.profile
        timings: dict[str, float] = {"decode_wait_s": 0.0, "embed_s": 0.0, "detect_s": 0.0, "frame_score_s": 0.0,
                                     "score_s": 0.0, "events_s": 0.0}
        result = ScanResult(source=str(source), timings=timings)
        builder = EventBuilder(
            p.camera_id, str(source), threshold=self.camera.threshold, min_event_s=self.camera.min_event_s,
            smooth=self.smooth, content_id=content_id,
        )
        self.builder = builder
        stream: EngramStream | None = p.engram.stream() if self.use_engram and p.engram else None
        head: TypeHead | None = p.head
        started = time.perf_counter()
        with open_camera_video(source, self.camera, fps=p.fps) as video:
            result.frame_times = video.source_times()
            result.fps, result.n_frames, result.duration_s = video.info.fps, video.info.n_frames, video.info.duration_s
            frames: Iterable[Frame] = threaded_frames(video, stats=timings)
            if max_seconds is not None:
                frames = _until(frames, max_seconds, result)
            if stop is not None:
                frames = _until_stopped(frames, stop, result)
            frames = _count(frames, result, 1.0 / p.fps)
            if self.zones is not None:
                self.zones.reset()
            if self.left is not None:
                self.left.reset()
            if self.objects is not None:
                self.objects.reset()
                stage = self.objects

                def detect(f: Frame) -> None:
                    t = time.perf_counter()
                    stage.push(f.t, f.image)
                    timings["detect_s"] += time.perf_counter() - t

                frames = _tap(frames, detect)
            self._frames = FrameScores(p.frame_scorer, timings) if p.frame_scorer is not None else None
            if self._frames is not None:
                frames = _tap(frames, self._frames.push)
            if on_frame is not None:
                frames = _tap(frames, on_frame)
            batch = int(getattr(getattr(self.encoder, "config", None), "batch_size", 1) or 1)
            it = embed_windows(self.encoder, frames, size=p.window, stride=self.camera.stride, fps=p.fps, batch=batch)
            while True:
                t0 = time.perf_counter()
                wait0 = timings["decode_wait_s"]
                detect0 = timings["detect_s"]
                frame0 = timings["frame_score_s"]
                try:
                    window, emb = next(it)
                except StopIteration:
                    break
                # embedding time excludes the time spent waiting for the decoder (and detecting,
                # which runs as the frames are pulled through)
                timings["embed_s"] += time.perf_counter() - t0 - (timings["decode_wait_s"] - wait0) - (
                    timings["detect_s"] - detect0) - (timings["frame_score_s"] - frame0)
                t1 = time.perf_counter()
                scored = self._score(window, emb, stream, head)
                timings["score_s"] += time.perf_counter() - t1
                if keep_windows:
                    result.windows.append(scored)
                if on_window:
                    on_window(scored)
                t2 = time.perf_counter()
                for event in builder.push(scored):
                    result.events.append(event)
                    if on_event:
                        on_event(event)
                timings["events_s"] += time.perf_counter() - t2
                if progress:
                    progress(window.ts_end)
        for event in builder.finish():
            result.events.append(event)
            if on_event:
                on_event(event)
        if self.objects is not None:
            result.tracks = track_summaries(self.objects, self._scale, self.camera.zones)
        if self._frames is not None and self._learned is not None:
            result.frame_scores = self._frames.calibrated(self._learned, p.frame_scorer.config.smooth_s)
            result.frame_types = list(getattr(self._frames.stream, "types", None) or []) or None
        timings["total_s"] = time.perf_counter() - started
        return result

    def detected(self, t0: float, t1: float) -> DetectedObjects | None:
        """A copy of the detector's tracks seen in ``[t0, t1]`` so far (for the agents' scene
        facts), or ``None`` without a detector that names classes."""
        stage = self.objects
        if stage is None or stage.detector is None or stage.frame_size is None:
            return None
        return DetectedObjects.snapshot(stage.tracker.alive(t0, t1), stage.detector.classes, self._scale,
                                        stage.frame_size, self.profile.track_norms)

    def _score(self, window: Window, emb: Embedding, stream: EngramStream | None, head: TypeHead | None) -> ScoredWindow:
        p = self.profile
        ws = p.scorer.score(emb.cells, emb.vector)
        calibrated = float(p.scorer.calibration(ws.raw)) if p.scorer.calibration else min(1.0, ws.raw / 2)
        raw = ws.raw
        box, objects = None, None
        learned = self._frames is not None and self._learned is not None
        if learned:
            # the learned frame scorer gives the score: its worst frame in the window
            raw = self._frames.window_max(window.ts_start, window.ts_end)  # type: ignore[union-attr]
            calibrated = float(self._learned(raw))  # type: ignore[misc]
        if self.objects is not None and p.objects is not None and self._fused is not None:
            stage = self.objects
            tracks, rows = window_objects(stage, self._scale, window.ts_start, window.ts_end)
            obj = score_window(p.objects, tracks, rows, window.ts_end, stage.peaks, stage.settings.memory_s)
            # the cheap scorer flags, or an object is already unusual (beyond the held-out normal
            # high): the detector looks more often until things calm down
            stage.flagged = calibrated >= stage.settings.flag_score or obj.level >= 1.0
            objects = obj.objects
            if obj.level > ws.raw and obj.box is not None and not learned:
                box = obj.box
            if not learned:
                calibrated = float(self._fused(fuse_levels(ws.raw, obj.level)))
        key = None
        score = calibrated
        if stream is not None and p.engram is not None:
            key = stream.push(emb.vector)
            score = p.engram.gate(calibrated, key)
        rules: tuple[ZoneRuleHit, ...] = ()
        if (self.zones is not None or self.left is not None) and self.objects is not None:
            # the camera's own zone and left-object rules: no memory of familiar patterns lowers these
            floor = self.camera.detection.zone_score
            aspect = frame_aspect(self.objects.frame_size) if self.objects.frame_size else 1.0
            if self.zones is not None:
                rules = tuple(ZoneRuleHit(h.zone.name, h.zone.kind, h.start_s, h.end_s, floor, score, h.box, h.since_s)
                              for h in self.zones.update(self.objects.seen, window.ts_start, window.ts_end, aspect))
            if self.left is not None:
                rules += tuple(ZoneRuleHit("", "left_object", h.start_s, h.end_s, floor, score, h.box, h.since_s)
                               for h in self.left.update(self.objects.seen, window.ts_start, window.ts_end, aspect))
            if rules:
                if floor > score:
                    box = rules[0].box  # the zone's occupant decided the score: the region is theirs
                calibrated, score = max(calibrated, floor), max(score, floor)
        types = head.probabilities(TypeHead.features(emb.vector, emb.cells, ws.cell)) if head else None
        names = self.encoder.feature_names
        features = {n: round(float(v), 4) for n, v in zip(names, emb.cells[ws.cell])} if names else None
        trigger = self.tripwires.check(emb.cells, names) if names and self.tripwires else None
        return ScoredWindow(
            index=window.index, ts_start=window.ts_start, ts_end=window.ts_end, raw=raw, score=score,
            cell=ws.cell, grid=p.scorer.grid, key=key, types=types, ungated=calibrated, features=features,
            vector=emb.vector, trigger=trigger, box=box, objects=objects, zone_rules=rules,
        )


def track_summaries(stage: ObjectStage, scale: PersonScale, zones: Sequence[Any] = (),
                    min_detections: int = 2) -> list[dict[str, Any]]:
    """The summaries of the objects a scan followed (seen at least ``min_detections`` times), each
    with its keyframe crop under ``"thumb"`` (``(t, JPEG bytes)``, or ``None``) for the caller to save."""
    if stage.frame_size is None:
        return []
    classes = stage.detector.classes if stage.detector is not None else ()
    aspect = frame_aspect(stage.frame_size)
    return [{**tr.summary(classes, scale, aspect, zones), "thumb": tr.thumb(classes)} for tr in stage.tracker.every_track()
            if tr.detections >= min_detections]


class FrameScores:
    """A learned frame scorer running over a scan's sampled frames.

    Frames are scored in small batches as they pass; :meth:`window_max` first scores whatever is
    pending, so a window's score never waits for frames after it.
    """

    def __init__(self, scorer: FrameScorer, timings: dict[str, float]) -> None:
        self.scorer = scorer
        self.stream = scorer.stream()
        self.timings = timings
        self.times: list[float] = []
        self.raw: list[float] = []

    def _take(self, results: list[tuple[float, float]]) -> None:
        for t, v in results:
            self.times.append(t)
            self.raw.append(float(v))

    def push(self, frame: Frame) -> None:
        """Score one sampled frame (batched)."""
        t0 = time.perf_counter()
        self._take(self.stream.push(frame.t, to_model_frame(frame.image, self.scorer.shape, self.scorer.colour)))
        self.timings["frame_score_s"] += time.perf_counter() - t0

    def window_max(self, start: float, end: float) -> float:
        """The largest raw frame score in [start, end] (the first frames of a source have none: a normal 1)."""
        t0 = time.perf_counter()
        self._take(self.stream.flush())
        self.timings["frame_score_s"] += time.perf_counter() - t0
        vals = [v for t, v in zip(self.times[-256:], self.raw[-256:]) if start - 1e-6 <= t <= end + 1e-6]
        return max(vals) if vals else 1.0

    def calibrated(self, cal: Calibration, smooth_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Every scored frame's calibrated score, with a temporal Gaussian of ``smooth_s`` seconds."""
        self._take(self.stream.flush())
        t = np.asarray(self.times, dtype=np.float64)
        v = np.asarray(cal(np.asarray(self.raw)), dtype=np.float64) if self.raw else np.zeros(0)
        if smooth_s > 0 and len(t) > 2:
            from scipy.ndimage import gaussian_filter1d

            period = float(np.median(np.diff(t)))
            v = gaussian_filter1d(v, smooth_s / max(period, 1e-6), mode="nearest")
        return t, v


def _until(frames: Iterable[Frame], seconds: float, result: ScanResult) -> Iterator[Frame]:
    for f in frames:
        if f.t > seconds:
            result.stopped_early = True
            return
        yield f


def _until_stopped(frames: Iterable[Frame], stop: threading.Event, result: ScanResult) -> Iterator[Frame]:
    for f in frames:
        if stop.is_set():
            result.stopped_early = True
            return
        yield f


def _count(frames: Iterable[Frame], result: ScanResult, period: float) -> Iterator[Frame]:
    """Record how much of the source was actually read."""
    for f in frames:
        result.frames_read += 1
        result.read_until_s = f.t + period
        yield f


def _tap(frames: Iterable[Frame], fn: Callable[[Frame], None]) -> Iterator[Frame]:
    for f in frames:
        fn(f)
        yield f
