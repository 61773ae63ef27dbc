"""``vigil bench serve``: a bounded load test of ``vigil serve`` on loopback.

A synthetic camera is rendered and fitted (once per ``--out`` folder), the server starts on a
free loopback port, ``watchers`` background watches run for the whole test (each finished watch
is replaced by the next test video, so videos are watched again and again: a second watch of a
video must add no alert), and an open-loop client sends ``rps`` API requests per second (alert
pages, cameras, sources, videos, timelines, health, and one question in twenty). A feed client
follows ``/api/alerts/stream`` throughout.

Measured: requests sent and failed, latency percentiles (overall and per route), alerts in the
store against alerts the feed delivered (lost = stored but never delivered; duplicated =
delivered twice, or two stored alerts of one video and type over the same time), and watches
that failed (a "database is locked" would show here).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CAMERA = "plaza"


@dataclass
class ServeBenchReport:
    """What one load test measured."""

    seconds: float
    watchers: int
    target_rps: float
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    by_route_p95_ms: dict[str, float] = field(default_factory=dict)
    watches_started: int = 0
    watches_finished: int = 0
    watches_failed: int = 0
    watch_errors: list[str] = field(default_factory=list)
    video_s_watched: float = 0.0
    alerts_stored: int = 0
    alerts_streamed: int = 0
    lost: int = 0
    duplicated: int = 0

    @property
    def achieved_rps(self) -> float:
        return self.requests / max(self.seconds, 1e-9)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.watches_failed == 0 and self.lost == 0 and self.duplicated == 0

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out["achieved_rps"] = round(self.achieved_rps, 2)
        out["ok"] = self.ok
        return out


def _percentiles(values: list[float]) -> dict[str, float]:
    """Latency percentiles (the nearest measured value), maximum and mean, in milliseconds."""
    if not values:
        return {}
    p50, p95, p99 = np.quantile(values, [0.5, 0.95, 0.99], method="nearest")
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1),
            "max": round(max(values), 1), "mean": round(float(np.mean(values)), 1)}


def run_serve_bench(out: Path, *, watchers: int = 4, rps: float = 20.0, seconds: float = 60.0, models_dir: Path | None = None,
                    say: Any = print) -> ServeBenchReport:
    """Run the load test (see the module docstring)."""
    import shutil

    import httpx

    from vigil.app.demo import bench_settings, clear_serve_data, prepare_bench_camera
    from vigil.server import BackgroundServer, Service, create_app

    fitted, videos = prepare_bench_camera(out, CAMERA, models_dir=models_dir, say=say)
    # each run starts from an empty store with the fitted profile, so every alert is new
    data = out / "serve-data"
    clear_serve_data(out)  # what the last run stored, never a user's
    shutil.copytree(fitted / CAMERA / "profile", data / CAMERA / "profile")
    settings = bench_settings(out, data, models_dir)
    report = ServeBenchReport(seconds=seconds, watchers=watchers, target_rps=rps)
    service = Service(settings)
    streamed: list[str] = []
    latencies: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    stop_feed = threading.Event()
    try:
        with BackgroundServer(create_app(service)) as server:
            base = server.url
            vids: list[str] = []

            def feed() -> None:
                try:
                    with httpx.Client(base_url=base, timeout=None) as client, \
                            client.stream("GET", "/api/alerts/stream?after=0") as resp:
                        for line in resp.iter_lines():
                            if line.startswith("data: "):
                                streamed.append(json.loads(line[6:])["alert_id"])
                            if stop_feed.is_set():
                                return
                except httpx.HTTPError:
                    if not stop_feed.is_set():  # the feed broke during the test: what it missed counts as lost
                        raise

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            next_video = 0
            jobs: dict[str, str] = {}

            def keep_watching(client: httpx.Client) -> None:
                nonlocal next_video
                current = {j["id"]: j for j in client.get("/api/sources").json()}
                vids[:] = [v["id"] for v in client.get("/api/videos").json()]
                for jid in list(jobs):
                    j = current.get(jid)
                    if j is None or j["status"] in ("starting", "watching"):
                        continue
                    del jobs[jid]
                    if j["status"] == "failed":
                        report.watches_failed += 1
                        report.watch_errors.append(str(j["error"]))
                    else:
                        report.watches_finished += 1
                    report.video_s_watched += j["video_s"]
                while len(jobs) < watchers:
                    video = videos[next_video % len(videos)]
                    next_video += 1
                    r = client.post("/api/sources", json={"source": video, "camera": CAMERA})
                    if r.status_code == 409:  # still watched by another slot: try the next video
                        continue
                    r.raise_for_status()
                    jobs[r.json()["id"]] = video
                    report.watches_started += 1

            routes = ["/api/alerts?limit=20", "/api/cameras", "/api/sources", "/health", "/api/videos",
                      "scores", "/api/alerts?limit=50&offset=10", "/api/alerts?type=falling", "scores", "/api/cameras"]

            def one(i: int, client: httpx.Client) -> None:
                route = routes[i % len(routes)]
                t0 = time.perf_counter()
                try:
                    if i % 20 == 19:
                        route = "ask"
                        r = client.post("/api/ask", json={"question": "When did someone fall?", "camera": CAMERA})
                    elif route == "scores":
                        r = client.get(f"/api/videos/{vids[i % len(vids)]}/scores") if vids else client.get("/health")
                    else:
                        r = client.get(route)
                    failed = r.status_code >= 400
                    problem = f"{route}: HTTP {r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    failed, problem = True, f"{route}: {type(exc).__name__}: {exc}"
                ms = 1000 * (time.perf_counter() - t0)
                with lock:
                    report.requests += 1
                    latencies[route.split("?")[0]].append(ms)
                    if failed:
                        report.errors += 1
                        if len(report.error_samples) < 5:
                            report.error_samples.append(problem)

            with httpx.Client(base_url=base, timeout=30) as control, httpx.Client(base_url=base, timeout=30) as client, \
                    ThreadPoolExecutor(max_workers=8) as pool:
                keep_watching(control)
                say(f"load: {watchers} watchers + {rps:g} requests/s for {seconds:g} s on {base}")
                started = time.perf_counter()
                i = 0
                last_check = started
                while (now := time.perf_counter()) - started < seconds:
                    due = started + i / rps
                    if now >= due:  # open loop: requests go out on schedule, however slow the answers
                        pool.submit(one, i, client)
                        i += 1
                        continue
                    if now - last_check >= 0.5:
                        keep_watching(control)
                        last_check = now
                    time.sleep(min(0.01, due - now))
                pool.shutdown(wait=True)
                report.seconds = round(time.perf_counter() - started, 1)
                for jid in list(jobs):  # the watches still running stop where they are
                    j = control.delete(f"/api/sources/{jid}").json()
                    report.video_s_watched += j["video_s"]
                    if j["status"] == "failed":
                        report.watches_failed += 1
                        report.watch_errors.append(str(j["error"]))
                time.sleep(2.0)  # the feed polls the store twice a second
            stop_feed.set()
            stored = [a for _, a in service.store.alerts_after(0, limit=1_000_000)]
            report.alerts_stored = len(stored)
            report.alerts_streamed = len(streamed)
            ids = {a["alert_id"] for a in stored}
            report.lost = len(ids - set(streamed))
            report.duplicated = len(streamed) - len(set(streamed)) + _overlapping(stored)
    finally:
        service.close()
    every = [ms for values in latencies.values() for ms in values]
    report.latency_ms = _percentiles(every)
    report.by_route_p95_ms = {route: _percentiles(v)["p95"] for route, v in sorted(latencies.items())}
    report.video_s_watched = round(report.video_s_watched, 1)
    return report


def _overlapping(alerts: list[dict[str, Any]]) -> int:
    """Stored alerts of one video and type whose times overlap an earlier one (a duplicate)."""
    seen: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    dups = 0
    for a in sorted(alerts, key=lambda a: a["start_s"]):
        key = (a["source"], a["event_type"])
        if any(s <= a["end_s"] and a["start_s"] <= e for s, e in seen[key]):
            dups += 1
        seen[key].append((a["start_s"], a["end_s"]))
    return dups


def format_serve_bench(r: ServeBenchReport) -> str:
    """The report as text."""
    lat = r.latency_ms
    lines = [
        f"{r.watchers} background watchers + {r.target_rps:g} requests/s for {r.seconds:g} s",
        f"  requests      {r.requests} ({r.achieved_rps:.1f}/s), {r.errors} failed",
        f"  latency       p50 {lat.get('p50', 0):.1f} ms, p95 {lat.get('p95', 0):.1f} ms, p99 {lat.get('p99', 0):.1f} ms, "
        f"max {lat.get('max', 0):.1f} ms",
        "  p95 by route  " + ", ".join(f"{k} {v:.0f} ms" for k, v in r.by_route_p95_ms.items()),
        f"  watches       {r.watches_started} started, {r.watches_finished} finished, {r.watches_failed} failed; "
        f"{r.video_s_watched:.0f} s of video",
        f"  alerts        {r.alerts_stored} stored, {r.alerts_streamed} streamed; {r.lost} lost, {r.duplicated} duplicated",
    ]
    lines += [f"  error: {e}" for e in r.error_samples + r.watch_errors[:5]]
    lines.append("  result        " + ("ok: zero errors, no alert lost or duplicated" if r.ok else "FAILED"))
    return "\n".join(lines)
