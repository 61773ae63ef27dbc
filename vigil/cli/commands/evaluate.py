"""``vigil eval ...``: VAD metrics, scorers compared, samplers, alerts, captions, predictions,
questions."""

from __future__ import annotations

import argparse
import sys
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
    """Add eval and its commands to the ``vigil`` subparsers."""
    # vigil eval ...
    ev_sub = add_group(sub, "eval", "measure: VAD metrics, samplers, alerts, questions, captions", "Measurements.",
                       "vigil eval vad --gt demo-out/gt.json --scores scores/")
    p = add(ev_sub, "vad", _eval_vad, "frame-level AUC and AP of per-video score files",
             "vigil eval vad --gt demo-out/gt.json --scores scores/ --json",
             "Micro AUC (all frames), macro AUC (mean over videos with anomalies), AP, AUC per "
             "anomaly type and per-video rows. Score files: <video>.csv with frame,time_s,score.")
    p.add_argument("--gt", required=True, help="ground truth (gt.json)")
    p.add_argument("--scores", required=True, metavar="DIR", help="folder of <video>.csv score files")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add(ev_sub, "compare", _eval_compare,
             "scorers side by side: each fitted on the same normal footage, AUC and fps on the same test footage",
             "vigil --config ped2.yaml eval compare --camera ped2 --normal ../shared/data/ucsd_ped2/train/* \\\n"
             "      --videos ../shared/data/ucsd_ped2/test/* --gt ../shared/data/ucsd_ped2/labels.json --out cmp/",
             "Fits the default profile (motion) once, trains each learned frame scorer on the same normal "
             "footage, scores the test videos with each, and prints micro/macro AUC (camera calibration and "
             "per-video min-max), pipeline and scorer frames/s and the rate relative to the default. Profiles "
             "and score files stay under --out.")
    p.add_argument("--camera", required=True, help="camera name (its vigil.yaml section applies)")
    p.add_argument("--normal", nargs="+", required=True, metavar="VIDEO", help="normal training footage")
    p.add_argument("--videos", nargs="+", required=True, metavar="VIDEO", help="test footage (labelled by --gt)")
    p.add_argument("--gt", required=True, help="ground truth of the test footage (gt.json or labels.json)")
    p.add_argument("--scorers", default="motion,aedmae,framepred", help="comma-separated (default motion,aedmae,framepred)")
    p.add_argument("--steps", type=int, help="training steps of every learned scorer (default: each scorer's)")
    p.add_argument("--set", dest="scorer_set", action="append", default=[], metavar="SCORER.KEY=VALUE",
                   help="a learned scorer's setting, repeatable (e.g. framepred.size=96)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the profiles and score files")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add(ev_sub, "sampler", _eval_sampler, "ATS vs uniform vs top-k: frames inside anomalies and context kept",
             "vigil eval sampler --gt demo-out/gt.json --scores scores/ --n 8 16 32",
             "For each sampler and N: the share of sampled frames inside the anomaly and the share of "
             "the video's N equal segments that keep at least one frame, over videos with anomalies.")
    p.add_argument("--gt", required=True, help="ground truth (gt.json)")
    p.add_argument("--scores", required=True, metavar="DIR", help="folder of <video>.csv score files")
    p.add_argument("--n", nargs="+", type=int, default=[8, 16, 32], help="frames to sample (default 8 16 32)")
    p.add_argument("--tau", type=float, default=0.1, help="ATS density floor (default 0.1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add(ev_sub, "alerts", _eval_alerts, "stored alerts against ground truth: recall, precision, onset, type",
             "vigil eval alerts --gt demo-out/gt.json --camera plaza",
             "Matches the camera's stored alerts to the ground-truth events of the videos named in gt.json "
             "(by file name): event recall, alert precision, onset error, type accuracy, alerts on "
             "normal-only videos, alert latency.")
    p.add_argument("--gt", required=True, help="ground truth (gt.json)")
    p.add_argument("--camera", required=True, help="camera whose alerts to score")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add(ev_sub, "captions", _eval_captions, "BLEU-1..4, METEOR, ROUGE-L, CIDEr of predictions per level and task",
             "vigil eval captions --gt hivau-ucf/instructions_test.jsonl --pred pred.jsonl --json",
             "Rows are matched by id; answers are PTB-tokenised and scored with pycocoevalcap (needs "
             "Java) overall, per level (clip, event, video), per task and per level/task. Groups too "
             "small for CIDEr are flagged; missing, extra and mismatched ids are reported.")
    p.add_argument("--gt", required=True, metavar="FILE", help="instructions (JSONL, answer under anwser or answer)")
    p.add_argument("--pred", required=True, metavar="FILE", help="predictions in the same schema")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add(ev_sub, "predict", _eval_predict, "ask a vision-language model every instruction; resumable",
             "vigil eval predict --instructions hivau-ucf/instructions_test.jsonl --videos hivau-ucf "
             "--vlm-url http://gpu:8000/v1 --vlm-model Qwen/Qwen2.5-VL-7B-Instruct --out pred.jsonl",
             "Samples frames of each item's video with ATS (or uniformly), asks the VLM the item's prompt "
             "and appends the answer to --out at once; a re-run skips items already answered.")
    p.add_argument("--instructions", required=True, metavar="FILE", help="instructions (JSONL)")
    p.add_argument("--videos", required=True, metavar="DIR", help="dataset root the items' video paths are under")
    p.add_argument("--out", required=True, metavar="FILE", help="predictions (JSONL), appended to")
    p.add_argument("--sampler", choices=["ats", "uniform"], default="ats", help="frame sampler (default ats)")
    p.add_argument("--frames", type=int, default=8, help="frames per item (default 8)")
    p.add_argument("--scores", metavar="DIR", help="vigil score CSVs named by the items' file stems: ATS weighs frames "
                   "by them (without: by picture change)")
    p.add_argument("--limit", type=int, help="only the first N items")
    p.add_argument("--vlm-url", metavar="URL", help="OpenAI-compatible VLM endpoint ($VIGIL_VLM_URL)")
    p.add_argument("--vlm-model", metavar="NAME", help="model name ($VIGIL_VLM_MODEL)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p = add(ev_sub, "ask", _eval_ask, "questions about synthetic footage against its ground truth",
             "vigil eval ask --data demo-out",
             "Indexes the test videos of a 'vigil data synth' folder under two cameras (even-numbered "
             "videos as 'north', odd ones as 'south'; video k starts at 15:00 + k minutes), asks the "
             "question set and checks each answer against gt.json: intervals overlap the truth, yes/no "
             "and counts exact, negatives 'not found'. The index lives in DIR/ask-data (or --data-dir) "
             "and is reused; the camera profile is copied from DIR/data (vigil demo) or fitted. The "
             "default question set names the test videos of the default layout (one per anomaly type "
             "and three normal ones, any --seed).")
    p.add_argument("--data", required=True, metavar="DIR", help="a folder written by vigil data synth (or vigil demo)")
    p.add_argument("--questions", metavar="FILE", help="question set (default: eval/ask_questions.yaml)")
    llm_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def _eval_vad(args: argparse.Namespace) -> int:
    from vigil.app import evaluate

    report = evaluate.vad(args.gt, args.scores)
    if args.json:
        print_json(report.to_dict())
    else:
        print(evaluate.format_report(report))
    return 0


def _eval_compare(args: argparse.Namespace) -> int:
    from vigil.app import evaluate
    from vigil.cli.parser import error, say

    request = evaluate.CompareRequest(args.camera, args.normal, args.videos, args.gt, args.out, scorers=args.scorers,
                                      steps=args.steps, scorer_set=args.scorer_set)
    report = evaluate.compare(request, overrides(args), log=say, on_error=error, training=progress.training_task)
    if args.json:
        print_json(report.to_dict())
    else:
        print(evaluate.format_table(report))
    return 0


def _eval_sampler(args: argparse.Namespace) -> int:
    from vigil.app import evaluate

    report = evaluate.sampler(args.gt, args.scores, args.n, args.tau)
    if args.json:
        print_json(report.to_dict())
    else:
        print(evaluate.format_sampler_report(report))
    return 0


def _eval_alerts(args: argparse.Namespace) -> int:
    from vigil.app import evaluate

    report = evaluate.alerts(args.gt, args.camera, overrides(args))
    if args.json:
        print_json(report.to_dict())
    else:
        print(evaluate.format_alert_report(report))
    return 0


def _eval_captions(args: argparse.Namespace) -> int:
    from vigil.app import evaluate

    report = evaluate.captions(args.gt, args.pred)
    for w in report["warnings"]:
        warn(w)
    if args.json:
        print_json(report)
    else:
        print(evaluate.format_caption_report({**report, "warnings": []}))
    return 0


def _eval_predict(args: argparse.Namespace) -> int:
    from vigil.app import evaluate

    request = evaluate.PredictRequest(args.instructions, args.videos, args.out, sampler=args.sampler,
                                      frames=args.frames, scores=args.scores, limit=args.limit)
    report = evaluate.predict(request, overrides(args), predicting=progress.counting("predicting", "item"))
    if report.missing_videos:
        print(f"vigil: warning: {len(report.missing_videos)} item video(s) not found under {args.videos} "
              f"(first: {report.missing_videos[0]}); those items were skipped", file=sys.stderr)
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"{report.written} prediction(s) written to {args.out}" + (f", {report.resumed} already there" if report.resumed else ""))
    return 0


def _eval_ask(args: argparse.Namespace) -> int:
    from vigil.app import evaluate

    def note(line: str) -> None:
        print(line, file=sys.stderr)

    request = evaluate.AskEvalRequest(args.data, questions=args.questions, data_dir=args.data_dir, models=models(args))
    report = evaluate.ask(request, overrides(args), note=note, warn=warn, indexing=progress.indexing,
                          asking=progress.counting("asking", "q"))
    if args.json:
        print_json(report.to_dict())
    else:
        print(evaluate.format_ask_report(report))
    return 0
