"""``vigil data synth``, ``vigil data video`` and ``vigil data build``: datasets."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vigil.cli import progress
from vigil.cli.parser import (
    add,
    add_group,
    llm_args,
    models,
    overrides,
    print_json,
    warn,
)


def register(sub: Any) -> None:
    """Add data and its commands to the ``vigil`` subparsers."""
    # vigil data ...
    data_sub = add_group(sub, "data", "build datasets: synthetic scenes, instruction data", "Build datasets.",
                         "vigil data synth scene --seed 0")
    p = add(data_sub, "synth", _data_synth, "render a synthetic camera with ground truth",
             "vigil data synth scene --seed 0 --per-type 2",
             "Render a fixed-camera plaza: normal training videos, test videos with one anomaly each "
             "(running, falling, fighting, loitering, intrusion, vehicle, abandoned object) and some "
             "without, plus gt.json, fgclip.json, hivau.json, scene.json and a vigil.yaml with the zones. "
             "Files already there (an edited vigil.yaml, say) are refused unless --force is given.")
    p.add_argument("out", help="output folder")
    p.add_argument("--force", action="store_true", help="overwrite the files of an earlier dataset in OUT")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files (default 0)")
    p.add_argument("--train", type=int, default=4, help="normal-only training videos (default 4)")
    p.add_argument("--per-type", type=int, default=1, help="test videos per anomaly type (default 1)")
    p.add_argument("--normal", type=int, default=3, help="normal-only test videos (default 3)")
    p.add_argument("--types", nargs="+", metavar="TYPE", help="anomaly types to include (default: all)")
    p.add_argument("--duration", type=float, default=45.0, help="seconds per video (default 45, at least 40)")
    p.add_argument("--fps", type=float, default=15.0, help="frame rate (default 15)")
    p.add_argument("--size", default="320x240", help="WIDTHxHEIGHT (default 320x240)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p = add(data_sub, "video", _data_video, "footage remade at a fixed size, rate and length (benchmark files)",
             "vigil data video ../shared/data/videos/robbery.mp4 --out robbery720.mp4 --size 1280x720 --seconds 160\n"
             "  vigil data video ../shared/data/ucsd_ped2/test/* --folder-fps 10 --out ped2-720.mp4",
             "Writes the sources (videos or image folders) one after another, looped until --seconds, as "
             "one H.264 MP4 of exactly --size at --fps; each frame is held until the next is due, so "
             "footage at another rate keeps its speed. The files vigil bench is quoted on are made this way.")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="videos or image folders")
    p.add_argument("--out", required=True, metavar="FILE", help="the MP4 to write")
    p.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT, both even (default 1280x720)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    p.add_argument("--seconds", type=float, default=160.0, help="length (default 160)")
    p.add_argument("--folder-fps", type=float, help="frame rate of image folders (default: --fps)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p = add(data_sub, "build", _data_build, "HIVAU-style instruction data from annotations or from footage",
             "vigil data build --annotations ../shared/data/hivau/ucf_database_test.json --out hivau-ucf\n"
             "  vigil data build --from-footage demo-out/test/*.mp4 --camera plaza --out synth-hivau",
             "From raw hierarchical annotations (HIVAU-70k format): instructions_test.jsonl (id, type, "
             "task, video, prompt, anwser), instructions_train.jsonl (conversations; events and videos "
             "as judgement -> description -> analysis), stats.json. With --videos, event and clip files "
             "are cut from the source videos. With --from-footage, the annotations are first made from "
             "the videos with the camera's alerts (events), equal splits (clips), VLM or scene-fact "
             "captions and LLM or template summaries, written to annotations.json for review, then built.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--annotations", metavar="FILE", help="raw annotations (e.g. ucf_database_test.json)")
    src.add_argument("--from-footage", nargs="+", metavar="VIDEO", help="make the annotations from these videos")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--videos", metavar="DIR", help="source videos (<name>.mp4): cut event and clip files from them")
    p.add_argument("--seed", type=int, default=0, help="seed of the prompt draws (default 0)")
    p.add_argument("--dataset", help="dataset name in video paths (default: from the file name, e.g. ucf-crime)")
    p.add_argument("--split", help="split in video paths (default: from the file name, else test)")
    p.add_argument("--camera", help="with --from-footage: the fitted camera whose profile and rules find the events")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="with --from-footage: clip length (default 4)")
    p.add_argument("--format", choices=["hivau", "fgclip"], default="hivau",
                   help="with --from-footage: hivau (instruction data, default) or fgclip (fgclip.json for vigil train "
                        "fgclip: global and region captions with the alerts' boxes)")
    llm_args(p)
    p.add_argument("--json", action="store_true", help="print stats as JSON")


def _data_synth(args: argparse.Namespace) -> int:
    from vigil.app.data import SynthRequest, synth

    request = SynthRequest(args.out, seed=args.seed, train=args.train, per_type=args.per_type, normal=args.normal,
                           types=args.types, duration=args.duration, fps=args.fps, size=args.size, force=args.force)
    summary = synth(request, progress.counting("rendering", "frame"))
    out = Path(request.out)
    if args.json:
        print_json(summary)
    else:
        print(f"rendered {summary['train_videos']} training and {summary['test_videos']} test videos "
              f"({summary['footage_s']:.0f} s of footage) in {summary['seconds']:.1f} s")
        print(f"  footage:      {out / 'train'}/ (normal only), {out / 'test'}/")
        print(f"  ground truth: {summary['files']['gt.json']} (events, per-frame labels and boxes)")
        print(f"  also:         fgclip.json, hivau.json, scene.json, vigil.yaml (camera zones) in {out}/")
    return 0


def _data_video(args: argparse.Namespace) -> int:
    from vigil.app.data import VideoRequest, frame_size, remaster

    w, h = frame_size(args.size)
    summary = remaster(VideoRequest(args.sources, args.out, size=args.size, fps=args.fps, seconds=args.seconds,
                                    folder_fps=args.folder_fps), progress.counting("writing", "frame"))
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {summary['out']}: {w}x{h} at {args.fps:g} fps, {summary['seconds']:.1f} s "
              f"({summary['frames']} frames; {len(args.sources)} source(s), {summary['passes']} pass(es))")
    return 0


def _data_build(args: argparse.Namespace) -> int:
    from vigil.app.footage import BuildProgress, BuildRequest, build

    request = BuildRequest(args.out, annotations=args.annotations, from_footage=args.from_footage, videos=args.videos,
                           seed=args.seed, dataset=args.dataset, split=args.split, camera=args.camera,
                           clip_seconds=args.clip_seconds, format=args.format, models=models(args))
    bars = BuildProgress(indexing=progress.indexing, annotating=progress.counting("annotating", "video"),
                         cutting=progress.counting("cutting", "file"))
    result = build(request, overrides(args), warn=warn, progress=bars)
    summary, out = result.summary, result.out
    if result.format == "fgclip":
        if args.json:
            print_json(summary)
        else:
            print(f"wrote {result.path}: {summary['videos']} video(s), {summary['regions']} region(s), {summary['normal']} normal "
                  f"(review it, then: vigil train fgclip --annotations {result.path} --videos {result.root} --model ID|DIR)")
        return 0
    if args.json:
        print_json(summary)
    else:
        from vigil.app.footage import format_stats

        print(format_stats(summary))
        print(f"\nwrote {out / 'instructions_test.jsonl'} ({result.test_rows} rows), {out / 'instructions_train.jsonl'} "
              f"({result.train_rows} conversations), {out / 'stats.json'}")
        if args.from_footage:
            print(f"annotations for review: {out / 'annotations.json'} (edit, then: vigil data build --annotations "
                  f"{out / 'annotations.json'} --out DIR)")
        media = summary.get("media")
        if media:
            print(f"media: {media['written']} file(s) written, {media['skipped']} already there, "
                  f"{len(media['missing_sources'])} source video(s) missing, {len(media['failed'])} failed")
    return 0
