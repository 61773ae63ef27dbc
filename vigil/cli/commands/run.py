"""``vigil serve``, ``vigil watch``, ``vigil ask`` and ``vigil demo``: the running system."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from vigil.cli import progress
from vigil.cli.parser import add, error, llm_args, models, overrides, print_json, say, warn
from vigil.core.errors import ConfigError


def register(sub: Any) -> None:
    """Add serve, watch, ask and demo to the ``vigil`` subparsers."""
    # vigil serve
    p = add(sub, "serve", _serve, "HTTP API, live alert feed and web dashboard over the data dir",
             "VIGIL_API_KEY=s3cret vigil serve --port 8080 --mqtt mqtt://localhost:1883",
             "Serves the dashboard at / and the API under /api/ (alerts with paging and a live "
             "server-sent-event feed, events, score timelines, questions, background watches of files and "
             "streams, keyframes and clips). Listens on loopback unless --host says otherwise; with "
             "VIGIL_API_KEY set every /api/ route needs 'Authorization: Bearer <key>' (printable ASCII; the API "
             "reference is at /docs). With --mqtt (or mqtt: "
             "in vigil.yaml) each new alert is published to vigil/<camera>/alerts and each camera's status, "
             "retained, to vigil/<camera>/status.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--allow-host", action="append", metavar="NAME",
                   help="also answer requests for this host name (repeatable; *.example.com for its subdomains); "
                   "localhost, --host and IP addresses always are, other names are refused (DNS rebinding)")
    p.add_argument("--mqtt", metavar="URL", help="MQTT broker for alerts and status, e.g. mqtt://localhost:1883 ($VIGIL_MQTT)")
    llm_args(p)

    # vigil watch
    p = add(sub, "watch", _watch, "explained alerts from files or live streams",
             "vigil watch rtsp://10.0.0.7/stream1 --camera lobby --json --webhook http://alarms.local/hook",
             "Scores every frame with the camera's profile; candidate events go through the "
             "Observer -> Analyst -> Decider agents (a language model when configured, the rule "
             "policy otherwise). Alerts are stored, printed (one JSON object per line with --json) and "
             "posted to --webhook.")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="video files, folders, rtsp:// or http(s):// URLs, webcam index")
    p.add_argument("--camera", required=True, help="a fitted camera")
    llm_args(p)
    p.add_argument("--webhook", metavar="URL", help="POST each new alert here (retried 3 times; undelivered ones "
                   "are posted on the next run; a 4xx refusal is final)")
    p.add_argument("--webhook-backfill", action="store_true",
                   help="also post the camera's stored alerts this webhook never received (default: only new ones)")
    p.add_argument("--max-seconds", type=float, help="stop each source after this much video")
    p.add_argument("--start-time", metavar="ISO", help="wall-clock time of the first frame of a file (for schedules)")
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines")

    # vigil ask
    p = add(sub, "ask", _ask, "ask a question about footage; answers cite videos, times and keyframes",
             'vigil ask "When did someone fall?" --video demo-out/test/test_001_falling.mp4 --camera plaza',
             "With --video, about that video (scanned first with --camera's profile if it is not indexed "
             "yet); with --camera alone, about everything stored for that camera; with --all (the "
             "default), about every camera. The Observer plans the search (event types, times, cameras, "
             "counts), the Analyst gathers stored events as evidence, the Decider answers with citations "
             "or says plainly that nothing was found. Every interval is a stored event's span.")
    p.add_argument("question", help="the question in plain English")
    p.add_argument("--video", metavar="PATH", help="ask about this video")
    p.add_argument("--camera", help="ask about this camera's footage (or scan --video with its profile)")
    p.add_argument("--all", action="store_true", help="ask about every camera (the default without --video/--camera)")
    p.add_argument("--since", metavar="T", help="only from T: seconds of video (90, 2m) or a time of day (15:00, 3pm)")
    p.add_argument("--until", metavar="T", help="only until T (same forms as --since)")
    p.add_argument("--start-time", metavar="ISO", help="wall-clock time of --video's first frame, when it is scanned")
    llm_args(p)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    # vigil demo
    p = add(sub, "demo", _demo, "the whole path offline: synthetic camera -> fit -> watch -> report",
             "vigil demo --out demo-out",
             "Renders a synthetic camera (or reuses it), fits it on its normal footage, watches its test "
             "videos, prints the explained alerts, scores them against the ground truth and writes an "
             "HTML report. Runs on a CPU in a few minutes, no downloads. --out must be a new or empty "
             "folder, or one an earlier demo made (it touches only what it wrote there).")
    p.add_argument("--out", default="demo-out", help="folder for footage, data and report (default demo-out)")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    llm_args(p)
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines and the summary as JSON")


def _serve(args: argparse.Namespace) -> int:
    import os

    from vigil import server

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: must be 1-65535")
    key = server.check_api_key(os.environ.get("VIGIL_API_KEY"))
    names = server.trusted_hosts(args.host, args.allow_host or ())
    loaded = overrides(args, **({"mqtt": args.mqtt} if args.mqtt else {})).settings()
    server.check_port(args.host, args.port)
    service = server.Service(loaded, models=models(args))
    try:
        host = f"[{args.host}]" if ":" in args.host else args.host
        reach = ("this machine only; --host 0.0.0.0 serves the network" if args.host in server.LOOPBACK_HOSTS
                 else "reachable from the network")
        print(f"vigil: serving {loaded.data_dir} at http://{host}:{args.port}/ ({reach}; "
              f"API key {'required' if key else 'not required: set VIGIL_API_KEY to require one'}; "
              f"answers to IP addresses and {', '.join(names)})", file=sys.stderr)
        if args.host not in server.LOOPBACK_HOSTS and not key:
            print("vigil: warning: anyone who can reach this port can read the alerts and start watches; "
                  "set VIGIL_API_KEY", file=sys.stderr)
        if service.mqtt is not None and not service.mqtt.wait_connected(3.0):
            print(f"vigil: warning: MQTT broker {service.mqtt.target.display} does not answer; alerts stay queued "
                  "and are published once it does", file=sys.stderr)
        server.serve(service, args.host, args.port, key, args.allow_host or ())
    finally:
        service.close()
    return 0


def _print_alert(as_json: bool) -> Any:
    def on_alert(alert: Any) -> None:
        print(alert.model_dump_json() if as_json else alert.line(), flush=True)
    return on_alert


def _watch(args: argparse.Namespace) -> int:
    from vigil.app.watch import WatchRequest, watch

    request = WatchRequest(args.camera, args.sources, models=models(args), webhook=args.webhook,
                           webhook_backfill=args.webhook_backfill, max_seconds=args.max_seconds,
                           start_time=args.start_time)
    run = watch(request, overrides(args), on_alert=_print_alert(args.json), warn=warn, say=say, on_error=error,
                progress=progress.video_seconds)
    for r in run.results:
        print(f"{r.source}: {r.video_s:.0f} s of video, {r.candidates} candidate event(s), {len(r.alerts)} alert(s) "
              f"({r.new_alerts} new), {r.suppressed} suppressed, {r.dropped} dropped, {r.llm_calls} LLM call(s)",
              file=sys.stderr)
    if run.failed:
        print(f"vigil: {len(run.failed)} of {len(args.sources)} source(s) could not be read", file=sys.stderr)
    return run.exit_code


def _format_answer(answer: Any) -> str:
    lines = [answer.answer]
    for c in answer.citations:
        event = f"  event {c.event_id}" if c.event_id else ""
        key = f"\n      keyframe {c.keyframe}" if c.keyframe else ""
        lines.append(f"  - {Path(c.video).name} {c.start_s:.1f}-{c.end_s:.1f} s  camera {c.camera_id}{event}{key}")
    lines.append(f"confidence {answer.confidence:.2f}")
    return "\n".join(lines)


def _ask(args: argparse.Namespace) -> int:
    from vigil.app.ask import AskRequest, answer

    request = AskRequest(args.question, video=args.video, camera=args.camera, all_cameras=args.all, since=args.since,
                         until=args.until, start_time=args.start_time, models=models(args))
    result = answer(request, overrides(args), warn=warn, progress=progress.indexing)
    for line in result.state.get("trace", []):
        logging.getLogger("vigil.ask").info("%s", line)
    if args.json:
        print_json(result.to_dict())
    else:
        print(_format_answer(result.answer))
    for w in result.warnings:
        warn(w)
    return 3 if result.troubled else 0


def _demo(args: argparse.Namespace) -> int:
    from vigil.app.demo import DemoRequest, run_demo

    def note(line: str) -> None:
        print(line, file=sys.stderr)

    result = run_demo(DemoRequest(args.out, args.seed, models(args)), overrides(args), note=note,
                      on_alert=_print_alert(args.json), warn=warn, say=say, on_error=error,
                      rendering=progress.counting("rendering", "frame"), progress=progress.video_seconds)
    if args.json:
        print_json({"report": str(result.html), "seconds": round(result.seconds, 1), **result.report.to_dict()})
    else:
        print()
        print(result.summary)
        print(f"\nreport: {result.html}  ({result.seconds:.0f} s)")
    return result.run.exit_code
