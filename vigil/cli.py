"""The ``vigil`` command line.

Every command imports its machinery lazily so ``vigil --help`` stays instant. Results go to
stdout (JSON with ``--json``), progress and logs to stderr. Expected failures print one line,
``vigil: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vigil import __version__
from vigil.errors import ConfigError, DataError, VigilError

Handler = Callable[[argparse.Namespace], int]


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def _add(sub: Any, name: str, handler: Handler, help_: str, example: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=help_,
        description=description or help_,
        epilog=f"example:\n  {example}",
        formatter_class=_Formatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vigil`` command."""
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil: explained alerts from camera footage, questions about footage, and "
        "HIVAU-style instruction data.",
        epilog="example:\n  vigil data synth demo-out --seed 0\n\nRun 'vigil COMMAND --help' for a command's options.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("--config", metavar="FILE", help="settings file (default: $VIGIL_CONFIG or ./vigil.yaml)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the store, profiles and clips live (default: $VIGIL_DATA_DIR or ./vigil-data)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    # vigil probe
    p = _add(sub, "probe", _cmd_probe, "open a video, folder or stream and report what is read",
             "vigil probe ../shared/data/videos/robbery.mp4 --json")
    p.add_argument("source", help="video file, image folder, rtsp:// or http(s):// URL, or webcam index")
    p.add_argument("--camera", help="use this camera's fps, width and window settings")
    p.add_argument("--fps", type=float, help="sampling rate (default: the camera's, 8)")
    p.add_argument("--width", type=int, help="resize width (default: the camera's, 320)")
    p.add_argument("--max-seconds", type=float, default=None, help="stop after this much video (live sources: default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")

    # vigil config
    p = _add(sub, "config", _cmd_config, "validate the settings and print the effective configuration",
             "vigil --config vigil.yaml config")
    p.add_argument("--camera", help="print only this camera's effective settings")

    # vigil fit
    p = _add(sub, "fit", _cmd_fit, "learn a camera's normal footage (its normality profile)",
             "vigil fit --camera plaza --normal demo-out/train/*.mp4",
             "Fit the encoder, the normality model (calibrated on held-out normal windows), the "
             "Engram memory and, with --labels, an anomaly-type head. The profile is saved under "
             "<data_dir>/<camera>/profile/.")
    p.add_argument("--camera", required=True, help="camera name (its vigil.yaml section applies, if any)")
    p.add_argument("--normal", nargs="+", required=True, metavar="VIDEO", help="normal footage of this camera")
    p.add_argument("--encoder", default="motion", help="window encoder: motion (default, no weights) or vjepa2")
    p.add_argument("--encoder-model", metavar="ID_OR_DIR", help="weights for vjepa2: hub id or local folder")
    p.add_argument("--scorer", default="knn", choices=["knn", "gaussian"], help="normality scorer (default knn)")
    p.add_argument("--labels", metavar="GT_JSON", help="labelled videos (gt.json with paths) to train the type head")
    p.add_argument("--no-engram", action="store_true", help="fit without the Engram memory")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    # vigil score
    p = _add(sub, "score", _cmd_score, "score videos with a fitted camera: per-frame scores and candidate events",
             "vigil score demo-out/test/*.mp4 --camera plaza --out scores/",
             "Writes frame,time_s,score (one row per source frame, scores in [0, 1]) and stores every "
             "window score and candidate event.")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, folders or streams")
    p.add_argument("--camera", required=True, help="a fitted camera")
    p.add_argument("--out", required=True, help="a .csv file (one video) or a folder for <video>.csv files")
    p.add_argument("--encoder", help="refuse to score unless the camera was fitted with this encoder")
    p.add_argument("--no-engram", action="store_true", help="score without the Engram gate")
    p.add_argument("--json", action="store_true", help="print JSON")

    # vigil bench
    p = _add(sub, "bench", _cmd_bench, "speed and memory: decode-only vs full pipeline on the same file",
             "vigil bench ../shared/data/videos/robbery.mp4 --camera plaza --json")
    p.add_argument("video", help="video file")
    p.add_argument("--camera", required=True, help="a fitted camera")
    p.add_argument("--max-seconds", type=float, help="only the first seconds of the video")
    p.add_argument("--no-engram", action="store_true", help="measure without the Engram gate")
    p.add_argument("--json", action="store_true", help="print JSON")

    # vigil watch
    p = _add(sub, "watch", _cmd_watch, "explained alerts from files or live streams",
             "vigil watch rtsp://10.0.0.7/stream1 --camera lobby --json --webhook http://alarms.local/hook",
             "Scores every frame with the camera's profile; candidate events go through the "
             "Observer -> Analyst -> Decider agents (a language model when configured, the rule "
             "policy otherwise). Alerts are stored, printed (one JSON object per line with --json) and "
             "posted to --webhook.")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="video files, folders, rtsp:// or http(s):// URLs, webcam index")
    p.add_argument("--camera", required=True, help="a fitted camera")
    _llm_args(p)
    p.add_argument("--webhook", metavar="URL", help="POST each new alert here (retried 3 times)")
    p.add_argument("--max-seconds", type=float, help="stop each source after this much video")
    p.add_argument("--start-time", metavar="ISO", help="wall-clock time of the first frame of a file (for schedules)")
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines")

    # vigil demo
    p = _add(sub, "demo", _cmd_demo, "the whole path offline: synthetic camera -> fit -> watch -> report",
             "vigil demo --out demo-out",
             "Renders a synthetic camera (or reuses it), fits it on its normal footage, watches its test "
             "videos, prints the explained alerts, scores them against the ground truth and writes an "
             "HTML report. Runs on a CPU in a few minutes, no downloads.")
    p.add_argument("--out", default="demo-out", help="folder for footage, data and report (default demo-out)")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    _llm_args(p)
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines and the summary as JSON")

    # vigil data ...
    data = sub.add_parser("data", help="build datasets: synthetic scenes", description="Build datasets.",
                          formatter_class=_Formatter, epilog="example:\n  vigil data synth demo-out --seed 0")
    data_sub = data.add_subparsers(title="commands", metavar="COMMAND")
    data.set_defaults(handler=lambda a: _need_subcommand(data))
    p = _add(data_sub, "synth", _cmd_data_synth, "render a synthetic camera with ground truth",
             "vigil data synth demo-out --seed 0 --per-type 2",
             "Render a fixed-camera plaza: normal training videos, test videos with one anomaly each "
             "(running, falling, fighting, loitering, intrusion, vehicle, abandoned object) and some "
             "without, plus gt.json, fgclip.json, hivau.json, scene.json and a vigil.yaml with the zones.")
    p.add_argument("out", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files (default 0)")
    p.add_argument("--train", type=int, default=4, help="normal-only training videos (default 4)")
    p.add_argument("--per-type", type=int, default=1, help="test videos per anomaly type (default 1)")
    p.add_argument("--normal", type=int, default=3, help="normal-only test videos (default 3)")
    p.add_argument("--types", nargs="+", metavar="TYPE", help="anomaly types to include (default: all)")
    p.add_argument("--duration", type=float, default=45.0, help="seconds per video (default 45, at least 40)")
    p.add_argument("--fps", type=float, default=15.0, help="frame rate (default 15)")
    p.add_argument("--size", default="320x240", help="WIDTHxHEIGHT (default 320x240)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    # vigil eval ...
    ev = sub.add_parser("eval", help="measure: VAD metrics, samplers, alerts", description="Measurements.",
                        formatter_class=_Formatter, epilog="example:\n  vigil eval vad --gt demo-out/gt.json --scores scores/")
    ev_sub = ev.add_subparsers(title="commands", metavar="COMMAND")
    ev.set_defaults(handler=lambda a: _need_subcommand(ev))
    p = _add(ev_sub, "vad", _cmd_eval_vad, "frame-level AUC and AP of per-video score files",
             "vigil eval vad --gt demo-out/gt.json --scores scores/ --json",
             "Micro AUC (all frames), macro AUC (mean over videos with anomalies), AP, AUC per "
             "anomaly type and per-video rows. Score files: <video>.csv with frame,time_s,score.")
    p.add_argument("--gt", required=True, help="ground truth (gt.json)")
    p.add_argument("--scores", required=True, metavar="DIR", help="folder of <video>.csv score files")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = _add(ev_sub, "sampler", _cmd_eval_sampler, "ATS vs uniform vs top-k: frames inside anomalies and context kept",
             "vigil eval sampler --gt demo-out/gt.json --scores scores/ --n 8 16 32",
             "For each sampler and N: the share of sampled frames inside the anomaly and the share of "
             "the video's N equal segments that keep at least one frame, over videos with anomalies.")
    p.add_argument("--gt", required=True, help="ground truth (gt.json)")
    p.add_argument("--scores", required=True, metavar="DIR", help="folder of <video>.csv score files")
    p.add_argument("--n", nargs="+", type=int, default=[8, 16, 32], help="frames to sample (default 8 16 32)")
    p.add_argument("--tau", type=float, default=0.1, help="ATS density floor (default 0.1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = _add(ev_sub, "alerts", _cmd_eval_alerts, "stored alerts against ground truth: recall, precision, onset, type",
             "vigil eval alerts --gt demo-out/gt.json --camera plaza",
             "Matches the camera's stored alerts to the ground-truth events of the videos named in gt.json "
             "(by file name): event recall, alert precision, onset error, type accuracy, alerts on "
             "normal-only videos, alert latency.")
    p.add_argument("--gt", required=True, help="ground truth (gt.json)")
    p.add_argument("--camera", required=True, help="camera whose alerts to score")
    p.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _llm_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models (default: the rule policy, no model)")
    g.add_argument("--llm", choices=["auto", "rules", "openai", "llamacpp"], default="auto",
                   help="agents' backend: auto = openai when an LLM URL is set, else rules")
    g.add_argument("--llm-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 ($VIGIL_LLM_URL)")
    g.add_argument("--llm-model", metavar="NAME", help="model name on that endpoint ($VIGIL_LLM_MODEL)")
    g.add_argument("--llm-gguf", metavar="PATH", help="local GGUF model for --llm llamacpp")
    g.add_argument("--tool-mode", choices=["auto", "tools", "json"], default="auto",
                   help="tool calls via the tools API, JSON-schema output, or auto (default)")
    g.add_argument("--vlm-url", metavar="URL", help="vision-language model endpoint for describe ($VIGIL_VLM_URL)")
    g.add_argument("--vlm-model", metavar="NAME", help="VLM model name ($VIGIL_VLM_MODEL)")


def _need_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from vigil.config import load_settings

    overrides = {"data_dir": args.data_dir}
    for flag, key in (("llm_url", "llm.url"), ("llm_model", "llm.model"), ("vlm_url", "vlm.url"), ("vlm_model", "vlm.model")):
        if getattr(args, flag, None):
            overrides[key] = getattr(args, flag)
    overrides.update(extra)
    return load_settings(args.config, overrides=overrides)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None if isinstance(obj, list) else 2, default=str))


# --------------------------------------------------------------------------- commands
def _cmd_config(args: argparse.Namespace) -> int:
    from vigil.config import dump_settings, find_config_file

    settings = _settings(args)
    if args.camera:
        import yaml

        print(yaml.safe_dump(settings.camera(args.camera, must_exist=True).model_dump(mode="json"), sort_keys=False), end="")
        return 0
    file = find_config_file(args.config)
    print(f"# {'from ' + str(file) if file else 'built-in defaults (no vigil.yaml found)'}")
    print(dump_settings(settings), end="")
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from perception.video import ReconnectPolicy, open_video
    from perception.windows import iter_windows

    settings = _settings(args)
    cam = settings.camera(args.camera, must_exist=True) if args.camera else settings.defaults
    fps = args.fps or cam.fps
    width = args.width or cam.frame_width
    policy = ReconnectPolicy(attempts=cam.reconnect_attempts, max_delay_s=cam.reconnect_max_delay_s)
    started = time.perf_counter()
    with open_video(args.source, fps=fps, width=width, folder_fps=cam.folder_fps, reconnect=policy) as video:
        limit = args.max_seconds if args.max_seconds is not None else (10.0 if video.info.is_live else None)
        count = 0
        first_t = last_t = None

        def frames():
            nonlocal count, first_t, last_t
            for frame in video.frames():
                if limit is not None and frame.t > limit:
                    return
                count += 1
                first_t = frame.t if first_t is None else first_t
                last_t = frame.t
                yield frame

        n_windows = sum(1 for _ in iter_windows(frames(), size=cam.window, stride=cam.stride, fps=fps))
        info = video.info
        out_size = video.size
    elapsed = time.perf_counter() - started
    report = {
        "source": info.source,
        "kind": info.kind,
        "source_size": [info.width, info.height],
        "source_fps": info.fps,
        "source_frames": info.n_frames,
        "duration_s": info.duration_s,
        "sampled_fps": fps,
        "frame_size": list(out_size),
        "sampled_frames": count,
        "first_t": first_t,
        "last_t": last_t,
        "windows": n_windows,
        "window": cam.window,
        "stride": cam.stride,
        "read_seconds": round(elapsed, 3),
    }
    if count == 0:
        raise DataError(f"{info.source}: opened, but no frame could be decoded")
    if args.json:
        _print_json(report)
    else:
        dur = f"{info.duration_s:.2f} s" if info.duration_s else "live"
        print(f"{info.source}: {info.kind}, {info.width}x{info.height}, {info.fps or 0:.2f} fps, {info.n_frames or '?'} frames, {dur}")
        print(f"read {count} frames at {fps:g} fps as {out_size[0]}x{out_size[1]} "
              f"({first_t:.3f}-{last_t:.3f} s), {n_windows} windows of {cam.window} (stride {cam.stride}) "
              f"in {elapsed:.2f} s")
    return 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from data_engine.synthetic import SynthSpec, plan_dataset, synthesize

    try:
        w, h = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        raise DataError(f"--size {args.size}: expected WIDTHxHEIGHT, e.g. 320x240") from None
    for flag, value in (("--train", args.train), ("--per-type", args.per_type), ("--normal", args.normal)):
        if value < 0:
            raise DataError(f"{flag} {value}: must be 0 or more")
    try:
        spec = SynthSpec(
            seed=args.seed, n_train=args.train, per_type=args.per_type, n_normal_test=args.normal,
            duration=args.duration, fps=args.fps, width=w, height=h,
            types=tuple(args.types) if args.types else SynthSpec.types,
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a folder")
    _layout, plans = plan_dataset(spec)
    total = sum(int(round(p.duration * p.fps)) for p in plans)
    started = time.perf_counter()
    with tqdm(total=total, unit="frame", desc="rendering", file=sys.stderr, disable=None, leave=False) as bar:
        summary = synthesize(spec, out, progress=bar.update)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        _print_json(summary)
    else:
        print(f"rendered {summary['train_videos']} training and {summary['test_videos']} test videos "
              f"({summary['footage_s']:.0f} s of footage) in {summary['seconds']:.1f} s")
        print(f"  footage:      {out / 'train'}/ (normal only), {out / 'test'}/")
        print(f"  ground truth: {summary['files']['gt.json']} (events, per-frame labels and boxes)")
        print(f"  also:         fgclip.json, hivau.json, scene.json, vigil.yaml (camera zones) in {out}/")
    return 0


def _cmd_eval_vad(args: argparse.Namespace) -> int:
    from eval.vad import evaluate_files, format_report

    report = evaluate_files(args.gt, args.scores)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_report(report))
    return 0


def _camera_and_data(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from vigil.store import DataDir

    settings = _settings(args)
    camera = settings.camera(args.camera)
    return settings, camera, DataDir(settings.data_dir)


def _load_profile(data: Any, camera_id: str) -> Any:
    from perception.profile import CameraProfile

    return CameraProfile.load(data.profile_dir(camera_id), camera_id)


def _scan_camera(profile: Any, camera: Any) -> Any:
    # the profile fixes how frames are sampled and windowed; the camera section the rest
    return camera.model_copy(update={"fps": profile.fps, "window": profile.window, "frame_width": profile.frame_width})


def _cmd_fit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from perception.encoders import encoder_names
    from perception.fitting import FitOptions, fit_profile
    from vigil.errors import ConfigError

    settings, camera, data = _camera_and_data(args)
    if args.encoder not in encoder_names():
        raise ConfigError(f"--encoder {args.encoder}: unknown encoder; choose one of: {', '.join(encoder_names())}")
    options = FitOptions(encoder=args.encoder, scorer=args.scorer, engram=not args.no_engram)
    if args.encoder_model:
        if args.encoder != "vjepa2":
            raise ConfigError("--encoder-model applies to --encoder vjepa2 only")
        options.encoder_options["model"] = args.encoder_model
    started = time.perf_counter()
    reached: dict[str, float] = {}
    with tqdm(desc="fitting", unit="s video", file=sys.stderr, disable=None, leave=False,
              bar_format="{desc}: {n:.0f} s of video [{elapsed}]") as bar:
        def progress(video: str, seconds: float) -> None:
            reached[video] = seconds
            bar.n = sum(reached.values())
            bar.refresh()

        profile = fit_profile(args.camera, args.normal, camera, options, labels=args.labels, progress=progress)
    folder = profile.save(data.profile_dir(args.camera))
    cal = profile.scorer.calibration
    summary = {
        "camera": args.camera,
        "profile": str(folder),
        "encoder": profile.encoder_version,
        "scorer": args.scorer,
        "videos": len(args.normal),
        "windows": profile.n_windows,
        "footage_s": round(sum(reached.values()), 1),
        "calibration": {"median_raw": round(cal.median, 4), "p99_raw": round(cal.high, 4)} if cal else None,
        "engram_patterns": len(profile.engram.counts) if profile.engram else 0,
        "type_head": profile.head.classes if profile.head else None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        _print_json(summary)
    else:
        print(f"fitted camera {args.camera!r} on {summary['videos']} video(s), {summary['footage_s']:.0f} s of "
              f"footage, {summary['windows']} windows ({profile.encoder_name} encoder, {args.scorer} scorer) "
              f"in {summary['seconds']:.1f} s")
        print(f"  profile: {folder}")
        if profile.engram:
            print(f"  engram:  {summary['engram_patterns']} normal patterns remembered")
        if profile.head:
            print(f"  type head: {', '.join(profile.head.classes)}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from perception.pipeline import Scanner
    from perception.recording import StoreRecorder, write_score_csv
    from vigil.errors import ConfigError

    settings, camera, data = _camera_and_data(args)
    profile = _load_profile(data, args.camera)
    if args.encoder and args.encoder != profile.encoder_name:
        raise ConfigError(
            f"camera {args.camera!r} was fitted with the {profile.encoder_name} encoder, not {args.encoder}; "
            f"refit it with --encoder {args.encoder} or score without --encoder"
        )
    out = Path(args.out)
    single = len(args.videos) == 1 and out.suffix.lower() == ".csv"
    if not single and out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: for several videos, give a folder")
    scan_cam = _scan_camera(profile, camera)
    scanner = Scanner(profile, scan_cam, use_engram=not args.no_engram)
    model_version = f"{profile.encoder_version}@{profile.created}"
    results = []
    with data.open_store() as store:
        for video in args.videos:
            recorder = StoreRecorder(store, args.camera, str(video), model_version, scan_cam.threshold)
            with tqdm(desc=Path(video).name, unit="s", file=sys.stderr, disable=None, leave=False,
                      bar_format="{desc}: {n:.0f} s of video [{elapsed}]") as bar:
                def progress(t: float, bar: Any = bar) -> None:
                    bar.n = t
                    bar.refresh()

                result = scanner.scan(str(video), on_window=recorder.window, on_event=recorder.event, progress=progress)
            recorder.flush()
            csv_path = out if single else out / f"{Path(video).stem}.csv"
            rows = write_score_csv(csv_path, result.windows, result.frame_times)
            store.record_video(str(video), args.camera, fps=result.fps, n_frames=result.n_frames,
                               duration_s=result.duration_s, model_version=model_version,
                               scanned_until=result.windows[-1].ts_end if result.windows else 0.0)
            results.append({
                "video": str(video),
                "csv": str(csv_path),
                "frames": rows,
                "windows": len(result.windows),
                "max_score": round(max((w.score for w in result.windows), default=0.0), 4),
                "events": [{"event_id": e.event_id, "start_s": e.start_s, "end_s": e.end_s,
                            "peak_score": e.peak_score} for e in result.events],
            })
    if args.json:
        _print_json(results if len(results) > 1 else results[0])
    else:
        for r in results:
            spans = ", ".join(f"{e['start_s']:.1f}-{e['end_s']:.1f} s ({e['peak_score']:.2f})" for e in r["events"])
            print(f"{r['video']}: {r['frames']} frames -> {r['csv']}; max score {r['max_score']:.2f}; "
                  f"{len(r['events'])} candidate event(s){': ' + spans if spans else ''}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from eval.bench import bench

    settings, camera, data = _camera_and_data(args)
    profile = _load_profile(data, args.camera)
    report = bench(args.video, profile, _scan_camera(profile, camera), max_seconds=args.max_seconds,
                   use_engram=not args.no_engram)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(f"{report.source}: {report.sampled_frames} frames at {report.frame_size[0]}x{report.frame_size[1]}, "
              f"{report.windows} windows ({report.encoder})")
        print(f"  decode only  {report.decode_fps:8.1f} frames/s")
        print(f"  pipeline     {report.pipeline_fps:8.1f} frames/s   ratio {report.ratio:.2f}")
        print("  per window   " + ", ".join(f"{k} {v:.2f} ms" for k, v in report.stage_ms_per_window.items()))
        print(f"  peak memory  {report.peak_rss_mb:.0f} MB")
    return 0


def _cmd_eval_sampler(args: argparse.Namespace) -> int:
    from eval.sampler import evaluate_sampler_files, format_sampler_report

    report = evaluate_sampler_files(args.gt, args.scores, args.n, tau=args.tau)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_sampler_report(report))
    return 0


class _Agents:
    """What a watch needs beside perception: backends, memory, checkpointed graph."""

    def __init__(self, args: argparse.Namespace, settings: Any, data: Any) -> None:
        from agents.graph import AlertGraph
        from vigil.llm import LlamaCppChat, OpenAIChat, VisionClient
        from vigil.memory import PatternMemory

        self.backend = None
        self.warnings: list[str] = []
        choice = args.llm
        if choice == "auto":
            choice = "llamacpp" if args.llm_gguf else ("openai" if settings.llm.configured else "rules")
        if choice == "openai":
            self.backend = OpenAIChat(settings.llm, tool_mode=args.tool_mode)
            problem = _probe_endpoint(settings.llm)
            if problem:
                self.warnings.append(f"LLM endpoint {settings.llm.url} {problem}; decisions fall back to the rule policy")
        elif choice == "llamacpp":
            if not args.llm_gguf:
                raise ConfigError("--llm llamacpp needs --llm-gguf PATH")
            self.backend = LlamaCppChat(args.llm_gguf)
        self.vision = VisionClient(settings.vlm) if settings.vlm.configured else None
        if self.vision is not None:
            problem = _probe_endpoint(settings.vlm)
            if problem:
                self.warnings.append(f"VLM endpoint {settings.vlm.url} {problem}; descriptions fall back to scene facts")
        self.memory = PatternMemory(data.root / "chroma", url=settings.memory_url)
        self.graph = AlertGraph(self.backend, data.root / "checkpoints.db")

    def close(self) -> None:
        self.graph.close()


def _probe_endpoint(endpoint: Any) -> str | None:
    """None if an OpenAI-compatible endpoint answers /models quickly, else what is wrong."""
    import httpx

    key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
    try:
        resp = httpx.get(endpoint.url.rstrip("/") + "/models", timeout=min(5.0, endpoint.timeout_s),
                         headers={"Authorization": f"Bearer {key}"} if key else None)
    except httpx.TimeoutException:
        return "does not answer"
    except httpx.HTTPError:
        return "is unreachable"
    if resp.status_code >= 500:
        return f"answers HTTP {resp.status_code}"
    return None


def _run_watch(args: argparse.Namespace, settings: Any, camera_id: str, camera: Any, data: Any, sources: list[str],
               on_alert: Any, start_time: Any = None) -> tuple[list[Any], list[str], Any]:
    from tqdm import tqdm

    from agents.watch import Watcher, WatchOptions
    from vigil.notify import Webhook

    profile = _load_profile(data, camera_id)
    agents = _Agents(args, settings, data)
    for w in agents.warnings:
        print(f"vigil: warning: {w}", file=sys.stderr)
    webhook = Webhook(args.webhook) if getattr(args, "webhook", None) else None
    results = []
    try:
        with data.open_store() as store:
            watcher = Watcher(camera_id, camera, profile, data, store, agents.graph, memory=agents.memory,
                              vision=agents.vision, webhook=webhook, options=WatchOptions(start_time=start_time),
                              on_alert=on_alert)
            resent = watcher.redeliver()
            if resent:
                print(f"vigil: delivered {resent} alert(s) left over from an earlier run", file=sys.stderr)
            for source in sources:
                with tqdm(desc=Path(str(source)).name, unit="s", file=sys.stderr, disable=None, leave=False,
                          bar_format="{desc}: {n:.0f} s of video [{elapsed}]") as bar:
                    def progress(t: float, bar: Any = bar) -> None:
                        bar.n = t
                        bar.refresh()

                    results.append(watcher.watch(str(source), max_seconds=getattr(args, "max_seconds", None), progress=progress))
            watcher.save_memory()
    finally:
        agents.close()
        if webhook is not None:
            webhook.close()
    return results, agents.warnings, agents.backend


def _cmd_watch(args: argparse.Namespace) -> int:
    from datetime import datetime

    settings = _settings(args)
    camera = settings.camera(args.camera)
    from vigil.store import DataDir

    data = DataDir(settings.data_dir)
    start_time = None
    if args.start_time:
        try:
            start_time = datetime.fromisoformat(args.start_time)
        except ValueError:
            raise ConfigError(f"--start-time {args.start_time}: expected an ISO time like 2026-11-23T22:15:00") from None

    def on_alert(alert: Any) -> None:
        print(alert.model_dump_json() if args.json else alert.line(), flush=True)

    results, warnings, backend = _run_watch(args, settings, args.camera, camera, data, args.sources, on_alert, start_time)
    if backend is not None and backend.failures and not warnings:
        warnings.append(f"LLM endpoint {settings.llm.url} failed {backend.failures} time(s) (timeouts or refused "
                        "connections); those decisions used the rule policy")
        print(f"vigil: warning: {warnings[-1]}", file=sys.stderr)
    for r in results:
        print(f"{r.source}: {r.video_s:.0f} s of video, {r.candidates} candidate event(s), {len(r.alerts)} alert(s) "
              f"({r.new_alerts} new), {r.suppressed} suppressed, {r.dropped} dropped, {r.llm_calls} LLM call(s)",
              file=sys.stderr)
    return 3 if warnings else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from eval.alerts import evaluate_alerts, format_alert_report
    from vigil.config import load_settings
    from vigil.report import write_report
    from vigil.schemas import load_ground_truth
    from vigil.store import DataDir

    out = Path(args.out)
    scene = out / "scene.json"
    fresh = True
    if scene.is_file():
        from data_engine.synthetic import GENERATOR_VERSION

        meta = json.loads(scene.read_text())
        fresh = not (meta.get("seed") == args.seed and meta.get("generator_version") == GENERATOR_VERSION)
    started = time.perf_counter()
    if fresh:
        print(f"rendering a synthetic camera into {out}/ ...", file=sys.stderr)
        synth_args = argparse.Namespace(out=str(out), seed=args.seed, train=4, per_type=1, normal=3, types=None,
                                        duration=45.0, fps=15.0, size="320x240", json=False)
        with _quiet_stdout():
            _cmd_data_synth(synth_args)
    overrides = {"data_dir": str(out / "data")}
    for flag, key in (("llm_url", "llm.url"), ("llm_model", "llm.model"), ("vlm_url", "vlm.url"), ("vlm_model", "vlm.model")):
        if getattr(args, flag, None):
            overrides[key] = getattr(args, flag)
    settings = load_settings(out / "vigil.yaml", overrides=overrides)
    camera_id = "plaza"
    camera = settings.camera(camera_id, must_exist=True)
    data = DataDir(settings.data_dir)
    if fresh or not (data.profile_dir(camera_id) / "profile.json").is_file():
        import shutil

        if data.root.exists():
            shutil.rmtree(data.root)  # a new scene: start from a clean data dir
        print("fitting the camera on its normal footage ...", file=sys.stderr)
        from perception.fitting import fit_profile

        train = sorted(str(p) for p in (out / "train").glob("*.mp4"))
        fit_profile(camera_id, train, camera).save(data.profile_dir(camera_id))
    tests = sorted(str(p) for p in (out / "test").glob("*.mp4"))

    def on_alert(alert: Any) -> None:
        print(alert.model_dump_json() if args.json else alert.line(), flush=True)

    print(f"watching {len(tests)} test videos ...", file=sys.stderr)
    args.max_seconds = None
    args.webhook = None
    results, warnings, backend = _run_watch(args, settings, camera_id, camera, data, tests, on_alert)
    truth = load_ground_truth(out / "gt.json")
    with data.open_store() as store:
        alerts = [a for a in store.alerts(camera_id) if Path(a["source"]).parent == (out / "test")]
        report = evaluate_alerts(truth, alerts)
        normal_s = sum(r.video_s for r in results if not truth.get(Path(r.source).stem, None) or not truth[Path(r.source).stem].events)
        normal_calls = sum(r.llm_calls for r in results if not truth[Path(r.source).stem].events)
        summary = format_alert_report(report)
        summary += (f"\nLLM calls per minute of normal footage: {60 * normal_calls / max(normal_s, 1e-9):.2f} "
                    f"({'rule policy' if backend is None else backend.label})")
        html = write_report(store, camera_id, out / "report.html", truth=truth, threshold=camera.threshold,
                            title="Vigil demo: synthetic plaza", summary=summary)
    elapsed = time.perf_counter() - started
    if args.json:
        _print_json({"report": str(html), "seconds": round(elapsed, 1), **report.to_dict()})
    else:
        print()
        print(summary)
        print(f"\nreport: {html}  ({elapsed:.0f} s)")
    return 3 if warnings else 0


class _quiet_stdout:
    def __enter__(self) -> None:
        import contextlib
        import io

        self._cm = contextlib.redirect_stdout(io.StringIO())
        self._cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def _cmd_eval_alerts(args: argparse.Namespace) -> int:
    from eval.alerts import evaluate_alerts, format_alert_report
    from vigil.schemas import load_ground_truth
    from vigil.store import DataDir

    settings = _settings(args)
    truth = load_ground_truth(args.gt)
    with DataDir(settings.data_dir).open_store() as store:
        alerts = [a for a in store.alerts(args.camera) if Path(a["source"]).stem in truth]
    report = evaluate_alerts(truth, alerts)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_alert_report(report))
    return 0


# --------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from vigil.log import init_logging

    init_logging(args.verbose)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vigil: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
