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
from vigil.errors import DataError, VigilError

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
    ev = sub.add_parser("eval", help="measure: VAD metrics", description="Measurements.",
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
    return parser


def _need_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _settings(args: argparse.Namespace) -> Any:
    from vigil.config import load_settings

    return load_settings(args.config, overrides={"data_dir": args.data_dir})


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
