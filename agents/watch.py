"""Watching a source: perception on every frame, the agents on candidate events, alerts out.

The scanner scores every window; while a candidate event is open, its evidence is checked every
``recheck_s`` seconds of video once it is ``decide_after_s`` long, and the graph runs as soon as the
type rules are confident, when ``max_wait_s`` has passed since the event appeared (an event
may reach back before that: to a loiterer's arrival, to when an object was left), or when the
event ends, whichever comes first. So a fall is reported seconds after it happens, not when the footage ends.

Every decision is written back: the event's verdict into the store, the pattern into the
Engram memory and the ChromaDB pattern memory, the event's text into the memory for questions.
Only verdicts the rules themselves reach are learned as normal: a model's suppression is not.
Alerts have deterministic ids; the store keeps one per id and the checkpointed graph does not
decide an event twice, so a restarted watch neither loses nor duplicates alerts.

Sources are keyed by :func:`perception.source.video.identify_source` (resolved path plus content
identity), so one file under two spellings is one video. With a model configured, the graph
runs in a background thread (:class:`DecisionWorker`): frames keep being read and scored while
a model thinks, and the source's end waits for the decisions still out.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import shutil
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from agents.delivery import AlertHook
from agents.graph import AlertGraph
from agents.policy import ONSET_LEAD_S, alert_onset
from agents.rules import RuleSettings
from agents.state import NoArgs
from agents.tools import ToolContext, classify
from perception.events import CandidateEvent, ScoredWindow, remainder
from perception.pipeline import Scanner, open_camera_video
from perception.profile import CameraProfile, add_engram_counts
from perception.recording import StoreRecorder
from perception.score.tripwires import Tripwires
from perception.source.video import Frame, identify_source, write_clip
from perception.track.scene import DetectedObjects
from vigil.core.config import CameraConfig
from vigil.core.errors import VideoError, VigilError
from vigil.core.llm import VisionClient, clean_text
from vigil.core.memory import HashingTextEmbedder, PatternMemory, TextEmbedder
from vigil.core.schemas import ANOMALY_TYPES, Alert, AlertExplanation, Region
from vigil.core.store import ClipRecord, DataDir, Store

log = logging.getLogger(__name__)

REMAINDER_LOOKBACK_S = 4.0


def wait_over(now: float, start_s: float, first_seen: float | None, max_wait_s: float) -> bool:
    """Whether an open event has waited ``max_wait_s`` for the type rules to be sure: counted
    from when it was first seen open (``first_seen``), or from its onset if that is later (the
    remainder of an event judged before). An event can reach back before it was seen (to a
    loiterer's arrival, through windows that were already unusual); that time was not waited."""
    since = start_s if first_seen is None else max(start_s, first_seen)
    return now - since >= max_wait_s


@dataclass
class WatchOptions:
    """When to decide, what to keep."""

    decide_after_s: float = 3.0
    recheck_s: float = 2.0
    max_wait_s: float = 12.0
    buffer_s: float = 90.0
    clip_pad_s: float = 2.0
    clip_width: int = 640
    start_time: datetime | None = None  # wall-clock time of the source's first frame, for schedules


@dataclass
class WatchResult:
    """What watching one source produced."""

    source: str
    video_s: float = 0.0
    windows: int = 0
    candidates: int = 0
    decided: int = 0
    dropped: int = 0
    suppressed: int = 0
    alerts: list[Alert] = field(default_factory=list)
    new_alerts: int = 0
    llm_calls: int = 0
    vlm_calls: int = 0
    read_until_s: float = 0.0  # seconds of video actually read
    complete: bool = False     # read to the source's end (not cut short by max_seconds)


class DecisionWorker:
    """Runs decisions (the agents' graph, then the alert) beside the frame loop.

    ``submit(work, finish)``: ``work()`` runs in the worker thread, ``finish(result)`` later in
    the caller's thread, from :meth:`drain`. Inline (``background=False``), both run at once:
    the rule policy is fast and deterministic, so it needs no thread.
    """

    def __init__(self, background: bool) -> None:
        self.background = background
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._done: queue.Queue[Any] = queue.Queue()
        self._pending = 0
        self._thread: threading.Thread | None = None
        if background:
            # a daemon: an interrupted run does not hang on a model; the checkpoint resumes it
            self._thread = threading.Thread(target=self._loop, name="vigil-decide", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            work, finish = job
            try:
                self._done.put((finish, work(), None))
            except BaseException as exc:  # handed to the frame loop
                self._done.put((finish, None, exc))

    @property
    def pending(self) -> int:
        """Decisions submitted and not yet finished."""
        return self._pending

    def submit(self, work: Callable[[], Any], finish: Callable[[Any], None]) -> None:
        """Run ``work`` (in the worker) and then ``finish`` with its result (at the next drain)."""
        if not self.background:
            finish(work())
            return
        self._pending += 1
        self._jobs.put((work, finish))

    def drain(self, wait: bool = False) -> None:
        """Finish the decisions that are done (all of them, waiting, with ``wait``)."""
        while self._pending:
            try:
                finish, value, exc = self._done.get(block=wait)
            except queue.Empty:
                return
            self._pending -= 1
            if exc is not None:
                raise exc
            finish(value)

    def close(self) -> None:
        """Stop the worker thread (after the job it is on)."""
        if self._thread is not None:
            self._jobs.put(None)


class FrameBuffer:
    """The last ``seconds`` of sampled frames, for keyframes, scene facts and stream clips."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._frames: deque[Frame] = deque()

    def append(self, frame: Frame) -> None:
        self._frames.append(frame)
        while self._frames and frame.t - self._frames[0].t > self.seconds:
            self._frames.popleft()

    def between(self, t0: float, t1: float) -> list[Frame]:
        return [f for f in self._frames if t0 <= f.t <= t1]

    @property
    def last_t(self) -> float:
        return self._frames[-1].t if self._frames else 0.0


class Watcher:
    """Watches sources of one camera (see the module docstring).

    ``text_embedder`` embeds event texts for questions (default: hashed n-grams); use the same
    one that ``vigil ask`` will search with. ``webhook`` is any :class:`~agents.delivery.AlertHook`
    (the application's :class:`~vigil.app.delivery.webhook.Webhook` is one).
    """

    def __init__(
        self,
        camera_id: str,
        camera: CameraConfig,
        profile: CameraProfile,
        data: DataDir,
        store: Store,
        graph: AlertGraph,
        *,
        memory: PatternMemory | None = None,
        vision: VisionClient | None = None,
        webhook: AlertHook | None = None,
        options: WatchOptions | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        rules: RuleSettings | None = None,
        text_embedder: TextEmbedder | None = None,
        models_dir: str | Path | None = None,
    ) -> None:
        self.camera_id = camera_id
        # the profile fixes how frames are sampled and windowed; the camera section the rest
        self.camera = camera.model_copy(update={"fps": profile.fps, "window": profile.window,
                                                "frame_width": profile.frame_width})
        self.profile = profile
        self.data = data
        self.store = store
        self.graph = graph
        self.memory = memory
        self.vision = vision
        self.webhook = webhook
        self.options = options or WatchOptions()
        self.on_alert = on_alert
        self.rules = rules or RuleSettings.from_config(self.camera.detection)
        self.scene_encoder = profile.build_scene_encoder()
        self.text = text_embedder or HashingTextEmbedder()
        self._model_version = f"{profile.encoder_version}@{profile.created}"
        self.models_dir = models_dir
        self._scanner: Scanner | None = None
        # the Engram counts as saved: what save_memory adds to the profile is what changed since
        self._engram_saved = self._engram_counts()

    @property
    def scanner(self) -> Scanner:
        """The camera's scanner (its detector is loaded once, for every source)."""
        if self._scanner is None:
            self._scanner = Scanner(self.profile, self.camera, tripwires=Tripwires.from_config(self.camera.detection),
                                    models_dir=self.models_dir)
        return self._scanner

    def redeliver(self, backfill: bool = False) -> int:
        """Post the alerts queued for this webhook that an earlier run could not deliver.

        Args:
            backfill: first queue every stored alert of the camera this webhook has not had
                (a newly added hook otherwise gets only alerts raised from now on).

        Returns:
            How many were delivered now.
        """
        if self.webhook is None:
            return 0
        if backfill:
            self.store.backfill_deliveries(self.camera_id, self.webhook.url)
        sent = 0
        for payload in self.store.pending_deliveries(self.camera_id, self.webhook.url):
            sent += self._deliver(payload)
        return sent

    def _deliver(self, payload: dict[str, Any]) -> bool:
        assert self.webhook is not None
        outcome, problem = self.webhook.send(payload)
        status = {"delivered": "delivered", "refused": "refused", "failed": "pending"}[outcome]
        self.store.record_delivery(payload["alert_id"], self.webhook.url, status, problem)
        return outcome == "delivered"

    def watch(self, source: str, *, max_seconds: float | None = None, progress: Callable[[float], None] | None = None,
              stop: threading.Event | None = None) -> WatchResult:
        """Watch one source to its end (or ``max_seconds``, or until ``stop`` is set: what was
        read so far is judged and stored as when the source ends)."""
        opts = self.options
        ident = identify_source(source)
        source = ident.key  # one video, whatever spelling was typed
        result = WatchResult(source=str(source))
        scanner = self.scanner
        buffer = FrameBuffer(opts.buffer_s)
        recorder = StoreRecorder(self.store, self.camera_id, str(source), self._model_version, self.camera.threshold)
        decided: set[str] = set()           # candidate ids already judged
        judged_until: dict[str, float] = {}  # detector event id -> video time its judged part ends
        alerted: set[str] = set()            # detector event ids that raised an alert
        next_check: dict[str, float] = {}
        # detector event id -> video time it was first seen open: an event that reaches back (to a
        # loiterer's arrival, to when an object was left) is not over its wait the moment it opens
        opened: dict[str, float] = {}
        in_flight: set[str] = set()          # detector event ids with a decision still out
        closed_meanwhile: dict[str, tuple[CandidateEvent, float]] = {}  # ... that closed meanwhile
        pending_clips: list[tuple[float, str, Path, float, float]] = []
        finite = ident.kind in ("file", "folder")
        started_at = datetime.now()  # a live source's first frame is now
        llm_before = getattr(self.graph.backend, "calls", 0)
        # with a model, decisions leave the frame loop: reading never waits on the model
        worker = DecisionWorker(background=self.graph.backend is not None or self.vision is not None)

        def on_frame(frame: Frame) -> None:
            buffer.append(frame)
            while pending_clips and pending_clips[0][0] <= frame.t:
                _, event_id, path, t0, t1 = pending_clips.pop(0)
                self._write_clip_from(event_id, buffer.between(t0, t1), path)

        def candidate(event: CandidateEvent) -> CandidateEvent | None:
            """What of a detector event is still to be judged (all of it, the first time)."""
            if event.event_id in alerted:
                return None
            if event.event_id not in judged_until:
                return event
            # a few seconds of overlap: what made the dismissed part look odd may have begun there
            after = max(event.start_s, judged_until[event.event_id] - REMAINDER_LOOKBACK_S)
            return remainder(event, after, self.camera.threshold)

        def decide(event: CandidateEvent, origin: str, now: float, final: bool) -> None:
            # the rules see the lead-up their onset may reach back into
            frames = buffer.between(event.start_s - ONSET_LEAD_S, now)
            ctx = self._context(event, frames, scanner.detected(event.start_s - ONSET_LEAD_S, now))
            if not final:
                classify(ctx, NoArgs())
                top = ctx.classification[0] if ctx.classification else None
                waited = wait_over(now, event.start_s, opened.get(origin), opts.max_wait_s)
                if not waited and (top is None or top.confidence < self.camera.confidence_threshold):
                    return  # not conclusive yet: look again in recheck_s
            decided.add(event.event_id)
            result.decided += 1
            recorder.event(event)  # stored before its verdict and alert refer to it

            def work() -> Alert | None:
                state = self.graph.run(ctx)
                alert = self._conclude(event, ctx, state, now, str(source), result, final, ident.content_id)
                if alert is not None and finite:
                    clip = self.data.event_dir(self.camera_id, event.event_id) / "clip.mp4"
                    self._write_clip_from_file(event.event_id, str(source), clip,
                                               max(0.0, alert.start_s - opts.clip_pad_s), alert.end_s + opts.clip_pad_s)
                return alert

            def finish(alert: Alert | None) -> None:
                result.vlm_calls += ctx.vlm_calls
                in_flight.discard(origin)
                closed = closed_meanwhile.pop(origin, None)
                if alert is None:
                    judged_until[origin] = now
                    if closed is not None:  # the event ended while this part was judged: judge the rest now
                        rest = candidate(closed[0])
                        if rest is not None and rest.event_id not in decided:
                            decide(rest, origin, closed[1], final=True)
                    return
                alerted.add(origin)
                if not finite:  # a live source's clip is cut from the frame buffer once it has the end
                    clip = self.data.event_dir(self.camera_id, event.event_id) / "clip.mp4"
                    t0, t1 = max(0.0, alert.start_s - opts.clip_pad_s), alert.end_s + opts.clip_pad_s
                    pending_clips.append((t1, event.event_id, clip, t0, t1))

            in_flight.add(origin)
            worker.submit(work, finish)

        def on_window(w: ScoredWindow) -> None:
            worker.drain()
            recorder.window(w)
            result.windows += 1
            snap = scanner.builder.open_event() if scanner.builder else None
            cand = candidate(snap) if snap is not None else None
            if cand is None or cand.event_id in decided:
                return
            # the event's own length (its smoothed scores lag the frames): a live event is
            # judged once it is long enough not to be a blip
            age = cand.end_s - cand.start_s
            seen = opened.setdefault(snap.event_id, w.ts_end)
            if age >= opts.decide_after_s and w.ts_end >= next_check.get(cand.event_id, 0.0):
                next_check[cand.event_id] = w.ts_end + opts.recheck_s
                decide(cand, snap.event_id, w.ts_end, final=wait_over(w.ts_end, cand.start_s, seen, opts.max_wait_s))

        def on_event(e: CandidateEvent) -> None:
            result.candidates += 1
            recorder.event(e)
            cand = candidate(e)
            now = max(e.end_s, buffer.last_t)
            if cand is not None and cand.event_id not in decided:
                decide(cand, e.event_id, now, final=True)
            elif cand is not None and e.event_id in in_flight:
                # judged in the background right now; what follows the judged part waits for it
                closed_meanwhile[e.event_id] = (e, now)

        try:
            scan = scanner.scan(str(source), on_window=on_window, on_event=on_event, on_frame=on_frame,
                                progress=progress, keep_windows=False, max_seconds=max_seconds,
                                content_id=ident.content_id, stop=stop)
            recorder.flush()
            worker.drain(wait=True)
        finally:
            worker.close()
        for _, event_id, path, t0, t1 in pending_clips:
            self._write_clip_from(event_id, buffer.between(t0, t1), path)
        result.video_s = buffer.last_t
        result.read_until_s = scan.read_until_s
        result.complete = scan.complete
        start_time = opts.start_time or (started_at if not finite else None)
        # the objects this scan followed replace an earlier scan's (a scan always starts at the
        # beginning); one cut short before it saw any keeps them
        if scan.tracks or scan.complete:
            tracks = self._save_track_keyframes(str(source), ident.content_id, scan.tracks)
            self.store.replace_tracks(self.camera_id, str(source), tracks, content_id=ident.content_id)
        # what was really read: a scan cut short (max_seconds) is not complete, and a damaged
        # file is complete where decoding stopped, whatever its header claims
        self.store.record_video(str(source), self.camera_id, fps=scan.fps, n_frames=scan.n_frames,
                                duration_s=scan.duration_s or scan.read_until_s, model_version=self._model_version,
                                scanned_until=scan.read_until_s, complete=finite and scan.complete,
                                content_id=ident.content_id,
                                start_time=start_time.isoformat(timespec="seconds") if start_time else None)
        result.llm_calls = getattr(self.graph.backend, "calls", 0) - llm_before
        return result

    # ------------------------------------------------------------------ helpers
    def _save_track_keyframes(self, source: str, content_id: str, tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write each track's keyframe crop as a JPEG (replacing an earlier scan's) and return the
        summaries with its path (``keyframe``), time (``keyframe_s``) and box (``keyframe_box``)
        instead of the pixels."""
        folder = self.data.camera_dir(self.camera_id) / "tracks" / hashlib.sha1(
            f"{source}|{content_id}".encode()).hexdigest()[:16]
        shutil.rmtree(folder, ignore_errors=True)
        out = []
        for t in tracks:
            t = dict(t)
            thumb = t.pop("thumb", None)
            if thumb is not None:
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"track_{int(t['track_id']):05d}.jpg"
                try:
                    path.write_bytes(thumb[1])
                    t["keyframe"], t["keyframe_s"] = str(path), round(float(thumb[0]), 3)
                    t["keyframe_box"] = [round(float(v), 4) for v in thumb[2]]
                except OSError as exc:
                    log.warning("could not write track keyframe %s (%s)", path, exc.strerror)
            out.append(t)
        return out

    def _context(self, event: CandidateEvent, frames: list[Frame], detected: DetectedObjects | None = None) -> ToolContext:
        return ToolContext(
            event=event, frames=frames, camera=self.camera, scene_encoder=self.scene_encoder,
            event_dir=self.data.event_dir(self.camera_id, event.event_id), engram=self.profile.engram,
            memory=self.memory, vision=self.vision, rules=self.rules, vector=event.peak_window.vector,
            detected=detected, blob_norms=self.profile.blob_norms,
        )

    def _clock(self, video_s: float) -> datetime | None:
        start = self.options.start_time
        return start + timedelta(seconds=video_s) if start else None

    def _conclude(self, event: CandidateEvent, ctx: ToolContext, state: dict[str, Any], now: float, source: str,
                  result: WatchResult, final: bool = True, content_id: str = "") -> Alert | None:
        decision = state.get("decision")
        explained_by = (state.get("explained_by") or ["rules"])[-1]
        disagreements = list(state.get("disagreements") or [])
        if decision is None:
            result.dropped += 1
            self.store.set_event_status(event.event_id, "dropped", explanation=state.get("observer", {}).get("reason"))
            return None
        verdict = decision["verdict"]
        clock = self._clock(event.start_s)
        if verdict != "suppress" and clock is not None and not self.camera.active_at(clock.hour, clock.minute):
            verdict = "suppress"
            decision["explanation"]["why"] += f" Outside the camera's alert hours ({', '.join(self.camera.schedule)})."
        exp = decision["explanation"]
        text = f"{exp['what']} {exp['when']} {exp['where']} {exp['why']}"
        kind = decision["event_type"]
        # a suppression is learned as normal only when the rules reached it on their own
        confirmed = explained_by == "rules" and state.get("rules_verdict", verdict) == "suppress"
        self._remember(event, verdict, kind, text, source, confirmed_normal=confirmed)
        if verdict == "suppress":
            result.suppressed += 1
            self.store.set_event_status(event.event_id, "suppressed", event_type=kind,
                                        confidence=decision["confidence"], explanation=text)
            return None
        keyframes = [k["path"] for k in (state.get("analyst", {}).get("tools", {}).get("sample_keyframes") or {}).get("keyframes", [])]
        x1, y1, x2, y2 = event.region()
        onset = alert_onset(event.start_s, (state.get("analyst") or {}).get("onset_s"), now)
        alert = Alert(
            alert_id=Alert.make_id(self.camera_id, source, event.start_s, content_id),
            camera_id=self.camera_id,
            source=source,
            event_id=event.event_id,
            event_type=kind if kind in ANOMALY_TYPES else "unknown",
            verdict=verdict,
            start_s=round(onset, 2),
            # an event judged while it goes on lasts at least until the judgement, and so does
            # one whose evidence began after the detector's event closed (a car that nears the
            # plaza, then enters it)
            end_s=round(max(event.end_s if final and onset < event.end_s else now, onset), 2),
            peak_score=round(event.peak_score, 4),
            confidence=round(float(decision["confidence"]), 3),
            explanation=AlertExplanation(**exp),
            explained_by=explained_by,
            model_disagreed=bool(disagreements),
            model_reason=clean_text("; ".join(disagreements), 600) if disagreements else None,
            keyframes=keyframes,
            clip=str(self.data.event_dir(self.camera_id, event.event_id) / "clip.mp4"),
            region=Region(x1=x1, y1=y1, x2=x2, y2=y2),
            latency_s=round(max(0.0, now - onset), 2),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        self.store.set_event_status(event.event_id, "alerted", event_type=alert.event_type,
                                    confidence=alert.confidence, explanation=text)
        payload = alert.model_dump(mode="json")
        new = self.store.add_alert(payload, event_id=event.event_id, content_id=content_id,
                                   deliver_to=[self.webhook.url] if self.webhook is not None else [])
        result.alerts.append(alert)
        if new:
            result.new_alerts += 1
            if self.on_alert:
                self.on_alert(alert)
            if self.webhook is not None:
                self._deliver(payload)
        return alert

    def _remember(self, event: CandidateEvent, verdict: str, kind: str, text: str, source: str,
                  confirmed_normal: bool = True) -> None:
        """Feed the verdict back into the Engram and pattern memories.

        A suppression is learned as normal only when ``confirmed_normal`` (the rules decided it
        on their own evidence): a model's suppression is never taught to the memories.
        """
        if verdict == "suppress" and not confirmed_normal:
            label = "unconfirmed"
        else:
            label = "normal" if verdict == "suppress" else "anomaly"
        engram = self.profile.engram
        if engram is not None and label != "unconfirmed":
            for w in event.windows:
                if w.key is not None and w.score >= 0.5 * event.peak_score:
                    engram.update(w.key, label)
        if self.memory is not None:
            meta = {"camera_id": self.camera_id, "source": source, "event_type": kind, "verdict": label,
                    "start_s": float(event.start_s), "end_s": float(event.end_s), "status": verdict}
            vector = event.peak_window.vector
            if vector is not None and label != "unconfirmed":
                self.memory.add_pattern(event.event_id, vector, label, meta)
            try:
                self.memory.add_event_text(event.event_id, text, self.text.embed([text])[0], meta, space=self.text.space)
            except VigilError as exc:  # the alert stands; only its text search is missing
                log.warning("event %s not indexed for questions: %s", event.event_id, exc)

    def _write_clip_from_file(self, event_id: str, source: str, path: Path, t0: float, t1: float) -> None:
        """The clip at the file's own frame rate and size (up to ``clip_width`` pixels wide),
        recorded in the store with the video time it starts at."""
        try:
            with open_camera_video(source, self.camera, fps=1.0) as probe:
                width = min(self.options.clip_width, probe.info.width)
            with open_camera_video(source, self.camera.model_copy(update={"frame_width": width}), fps=1000.0) as video:
                fps = video.info.fps or self.camera.fps
                frames = list(video.frames(t0, t1))
        except (VideoError, OSError) as exc:
            log.warning("could not write clip %s: %s", path, exc)
            return
        self._save_clip(event_id, frames, path, fps)

    def _write_clip_from(self, event_id: str, frames: list[Frame], path: Path) -> None:
        if frames:
            self._save_clip(event_id, frames, path, self.camera.fps)

    def _save_clip(self, event_id: str, frames: list[Frame], path: Path, fps: float) -> None:
        """Write the clip and record it in the store with the video time it starts at."""
        try:
            write_clip(path, frames, fps)
        except (VideoError, OSError) as exc:
            log.warning("could not write clip %s: %s", path, exc)
            return
        self.store.add_clip(ClipRecord(event_id, frames[0].t, frames[-1].t, str(path)))

    def save_memory(self) -> None:
        """Add the Engram counts learned since the last save to the camera's saved profile.

        Only the counts are added, to the profile as it is saved now (other watches of the camera
        may have added theirs); nothing is written when nothing was learned.
        """
        engram = self.profile.engram
        if engram is None:
            return
        learned = {}
        for key, (normal, anomaly) in self._engram_counts().items():
            saved_normal, saved_anomaly = self._engram_saved.get(key, (0, 0))
            if (normal, anomaly) != (saved_normal, saved_anomaly):
                learned[key] = [normal - saved_normal, anomaly - saved_anomaly]
        if not learned:
            return
        merged = add_engram_counts(self.data.profile_dir(self.camera_id), self.camera_id, engram.codebook, learned)
        if merged is not None:  # what other runs learned counts here from now on too
            engram.counts.clear()
            engram.counts.update({key: list(c) for key, c in merged.items()})
        self._engram_saved = self._engram_counts()

    def _engram_counts(self) -> dict[int, tuple[int, int]]:
        """A copy of the Engram memory's counts (none without one)."""
        engram = self.profile.engram
        return {key: (c[0], c[1]) for key, c in engram.counts.items()} if engram is not None else {}
