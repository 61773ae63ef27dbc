"""``vigil fit`` and ``vigil score``: learning a camera's normal footage, scoring footage with it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vigil.cli import progress
from vigil.cli.parser import add, error, overrides, print_json, say


def register(sub: Any) -> None:
    """Add fit and score to the ``vigil`` subparsers."""
    # vigil fit
    p = add(sub, "fit", _fit, "learn a camera's normal footage (its normality profile)",
             "vigil fit --camera plaza --normal demo-out/train/*.mp4",
             "Fit the encoder, the normality model (calibrated on held-out normal windows), the "
             "Engram memory and, with --labels, an anomaly-type head. The profile is saved under "
             "<data_dir>/<camera>/profile/.")
    p.add_argument("--camera", required=True, help="camera name (its vigil.yaml section applies, if any)")
    p.add_argument("--normal", nargs="+", required=True, metavar="VIDEO", help="normal footage of this camera")
    p.add_argument("--encoder", default="motion", help="window encoder: motion (default, no weights) or vjepa2")
    p.add_argument("--encoder-model", metavar="ID_OR_DIR", help="weights for vjepa2: hub id or local folder")
    p.add_argument("--scorer", default="knn", choices=["knn", "gaussian", "aedmae", "framepred", "fgclip"],
                   help="what scores the footage: knn or gaussian over the encoder's windows (default knn), a "
                   "frame scorer trained on this camera: aedmae (self-distilled masked autoencoder) or framepred "
                   "(future-frame prediction), or fgclip: zero-shot text queries to an FG-CLIP model "
                   "(--scorer-set model=DIR, from vigil train fgclip)")
    p.add_argument("--steps", type=int, help="frame scorer: training steps (default 1500 for aedmae, plus half as many "
                   "for its student; 3000 for framepred)")
    p.add_argument("--scorer-set", action="append", default=[], metavar="KEY=VALUE",
                   help="frame scorer setting, repeatable (e.g. size=96, lr=0.002, region=frame)")
    p.add_argument("--resume", action="store_true", help="frame scorer: continue the interrupted training")
    p.add_argument("--meta-train", nargs="+", metavar="DIR",
                   help="framepred: first meta-learn (MAML) an initialisation on these cameras' normal footage "
                   "(one folder of videos per camera), saved to --meta-init")
    p.add_argument("--meta-steps", type=int, default=300, help="with --meta-train: meta steps (default 300)")
    p.add_argument("--meta-init", metavar="FILE", help="framepred: start from this meta-learned initialisation "
                   "(default with --meta-train: <models>/framepred-maml/init.pt)")
    p.add_argument("--adapt-frames", type=int, metavar="K", help="framepred: train on only the first K normal frames "
                   "(the adaptation budget of a new camera)")
    p.add_argument("--labels", metavar="GT_JSON", help="labelled videos (gt.json with paths) to train the type head")
    p.add_argument("--no-engram", action="store_true", help="fit without the Engram memory")
    p.add_argument("--detector", choices=["yolov3-tiny", "yolo11n", "blobs", "ultralytics", "rfdetr", "none"],
                   help="object detector (default: the camera's detection.detector, yolov3-tiny)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    # vigil score
    p = add(sub, "score", _score, "score videos with a fitted camera: per-frame scores and candidate events",
             "vigil score demo-out/test/*.mp4 --camera plaza --out scores/",
             "Writes frame,time_s,score (one row per source frame, scores in [0, 1]) and stores every "
             "window score and candidate event.")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, folders or streams")
    p.add_argument("--camera", required=True, help="a fitted camera")
    p.add_argument("--out", required=True, help="a .csv file (one video) or a folder for <video>.csv files")
    p.add_argument("--encoder", help="refuse to score unless the camera was fitted with this encoder")
    p.add_argument("--no-engram", action="store_true", help="score without the Engram gate")
    p.add_argument("--per-video", action="store_true",
                   help="min-max normalise each video's CSV scores (the published offline protocol; stored "
                   "window scores and events keep the camera's calibration)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _fit(args: argparse.Namespace) -> int:
    from vigil.app.fit import FitRequest, fit

    request = FitRequest(
        args.camera, args.normal, encoder=args.encoder, encoder_model=args.encoder_model, scorer=args.scorer,
        steps=args.steps, scorer_set=args.scorer_set, resume=args.resume, meta_train=args.meta_train,
        meta_steps=args.meta_steps, meta_init=args.meta_init, adapt_frames=args.adapt_frames, labels=args.labels,
        engram=not args.no_engram, detector=args.detector)
    result = fit(request, overrides(args), on_error=error, say=say, fitting=progress.fitting,
                 training=progress.training_task)
    summary, profile, training = result.summary, result.profile, result.training
    if args.json:
        print_json(summary)
    else:
        print(f"fitted camera {args.camera!r} on {summary['videos']} video(s), {summary['footage_s']:.0f} s of "
              f"footage, {summary['windows']} windows ({profile.encoder_name} encoder, {args.scorer} scorer) "
              f"in {summary['seconds']:.1f} s")
        print(f"  profile: {result.folder}")
        if profile.engram:
            print(f"  engram:  {summary['engram_patterns']} normal patterns remembered")
        if profile.objects:
            size = f", input {summary['detector_input']} px" if summary["detector_input"] else ""
            print(f"  objects: {summary['normal_objects']} normal object observations ({profile.detector_name}{size})")
        if profile.head:
            print(f"  type head: {', '.join(profile.head.classes)}")
        if training.get("meta"):
            m = training["meta"]
            print(f"  meta-init: {training['meta_init']} ({m['steps']} meta steps, query loss "
                  f"{m['loss_first']:.4f} -> {m['loss_last']:.4f})")
        for r in training.get("training", []):
            print(f"  {args.scorer} {r['stage']}: {r['steps']} steps, loss {r['loss_first']:.4f} -> "
                  f"{r['loss_last']:.4f} in {r['seconds']:.0f} s")
    if result.failed:
        print(f"vigil: {len(result.failed)} of {len(args.normal)} normal video(s) could not be read; fitted on the rest",
              file=sys.stderr)
        return 2
    return 0


def _score(args: argparse.Namespace) -> int:
    from vigil.app.fit import ScoreRequest, score

    request = ScoreRequest(args.camera, args.videos, args.out, encoder=args.encoder, engram=not args.no_engram,
                           per_video=args.per_video)
    results, failed = score(request, overrides(args), on_error=error, progress=progress.video_seconds)
    if args.json:
        if results:
            print_json(results if len(results) > 1 or len(args.videos) > 1 else results[0])
    else:
        for r in results:
            spans = ", ".join(f"{e['start_s']:.1f}-{e['end_s']:.1f} s ({e['peak_score']:.2f})" for e in r["events"])
            print(f"{r['video']}: {r['frames']} frames -> {r['csv']}; max score {r['max_score']:.2f}; "
                  f"{len(r['events'])} candidate event(s){': ' + spans if spans else ''}")
    if failed:
        print(f"vigil: {len(failed)} of {len(args.videos)} video(s) could not be read", file=sys.stderr)
        return 2
    return 0
