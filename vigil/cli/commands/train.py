"""``vigil train fgclip`` and ``vigil train vlm``: tuning models on annotated footage."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vigil.cli import progress
from vigil.cli.parser import add, add_group, print_json


def register(sub: Any) -> None:
    """Add train and its models to the ``vigil`` subparsers."""
    # vigil train ...
    train_sub = add_group(sub, "train", "tune models: FG-CLIP (videos and regions), the VLM (LoRA on instructions)",
                          "Tune models on annotated footage.", title="models", metavar="MODEL")
    p = add(train_sub, "fgclip", _train_fgclip, "CLIP tuned on whole videos and on annotated regions",
             "vigil train fgclip --annotations demo-out/fgclip.json --videos demo-out --model openai/clip-vit-base-patch16 "
             "--steps 500 --out fgclip-plaza",
             "Two-level contrastive training (FG-CLIP): symmetric InfoNCE between each batch's videos and "
             "global captions, plus --lambda times the same between annotated regions (ROI-aligned on the "
             "vision tower's patch grid) and their captions. Normal videos load only their timestamped "
             "segment and count as one full-frame region. Checkpoints every --save-every steps under "
             "--out/checkpoint (--resume continues), the tuned model in --out/model.")
    p.add_argument("--annotations", required=True, metavar="FILE", help="FG-CLIP annotations (fgclip.json)")
    p.add_argument("--videos", required=True, metavar="DIR", help="folder the annotations' video paths are relative to")
    p.add_argument("--model", required=True, metavar="ID|DIR",
                   help="CLIP to start from: a local folder or hub id; 'tiny-random' builds a small random CLIP over "
                        "the annotations' words (checks the plumbing on a CPU; its results mean nothing)")
    p.add_argument("--steps", type=int, default=200, help="optimizer steps (default 200)")
    p.add_argument("--batch-size", type=int, default=4, help="videos per batch (default 4; at least 2)")
    p.add_argument("--lambda", dest="region_weight", type=float, default=1.0, help="weight of the region loss (default 1)")
    p.add_argument("--lr", type=float, default=1e-5, help="learning rate (default 1e-5, for a pretrained CLIP)")
    p.add_argument("--frames", type=int, default=8, help="frames sampled per video (default 8)")
    p.add_argument("--save-every", type=int, default=50, help="checkpoint every N steps (default 50)")
    p.add_argument("--seed", type=int, default=0, help="batch order and initialisation seed (default 0)")
    p.add_argument("--out", default="fgclip-out", metavar="DIR", help="checkpoints, losses and the model (default fgclip-out)")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    p.add_argument("--json", action="store_true", help="print the losses as JSON")

    p = add(train_sub, "vlm", _train_vlm, "LoRA on a vision-language model with HIVAU-style instructions; merge for vLLM",
             "vigil train vlm --instructions hivau-ucf-train/instructions_train.jsonl --videos hivau-ucf-train "
             "--model Qwen/Qwen2-VL-2B-Instruct --out vlm-ucf --bf16 --gradient-checkpointing\n"
             "  vigil train vlm --merge --adapter vlm-ucf/adapter --out vlm-ucf-merged",
             "Reads instruction files of either format (test rows with prompt/anwser; train conversations: "
             "<video> then judgement -> description -> analysis), samples --frames frames of each clip, "
             "event or video file (ATS over the file's vigil score CSV in --scores when there is one, uniform "
             "otherwise; --sampler ats without scores weighs by picture change, as vigil eval predict does), "
             "lays each conversation out as vigil eval predict asks a served model (its system prompt, the "
             "question, the frames as images) with the model's own chat template and processor, and trains "
             "LoRA adapters on the language model (vision tower frozen unless --vision-lora) with the loss on "
             "the answers' tokens only. Checkpoints every --save-every steps under --out/checkpoint (--resume "
             "continues), the adapter in --out/adapter. --dry-run loads no weights: it counts examples by "
             "level and task, those without media, and encodes the first batch. --merge folds an adapter "
             "into its base and saves a folder 'vllm serve' loads.")
    p.add_argument("--instructions", nargs="+", metavar="FILE", help="instruction files (JSONL, either format)")
    p.add_argument("--videos", metavar="DIR", help="dataset root the instructions' media paths are under")
    p.add_argument("--model", metavar="ID|DIR",
                   help="base model: a local folder or hub id (Qwen2-VL / Qwen2.5-VL; others through their "
                        "transformers processor, --trust-remote-code for models that need it); 'tiny-random' builds "
                        "a tiny random Qwen2-VL over the instructions' words (checks the plumbing; means nothing). "
                        "With --merge: the base (default: the one the adapter names)")
    p.add_argument("--out", metavar="DIR", help="checkpoints, losses and the adapter (with --merge: the merged model)")
    p.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default 16)")
    p.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha (default 32)")
    p.add_argument("--lora-dropout", type=float, default=0.05, help="LoRA dropout (default 0.05)")
    p.add_argument("--lora-targets", metavar="NAMES",
                   help="linear layers to adapt, by name, comma-separated (default: the language model's attention "
                        "and MLP projections q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)")
    p.add_argument("--vision-lora", action="store_true", help="also adapt the vision tower's layers of those names")
    p.add_argument("--frames", type=int, default=8, help="frames per example (default 8; 16 as Holmes-VAU)")
    p.add_argument("--sampler", choices=["auto", "ats", "uniform"], default="auto",
                   help="frame sampler: auto = ATS where --scores has the file's scores, uniform elsewhere (default)")
    p.add_argument("--scores", metavar="DIR", help="vigil score CSVs named by the media files' stems, for ATS")
    p.add_argument("--frame-width", type=int, default=448, help="frame width before the processor (default 448, as eval predict)")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the examples (default 1)")
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps (overrides --epochs)")
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    p.add_argument("--batch-size", type=int, default=1, help="examples per micro-batch (default 1)")
    p.add_argument("--grad-accum", type=int, default=8, help="micro-batches per optimizer step (default 8)")
    p.add_argument("--max-tokens", type=int, default=4096, help="examples longer than this are skipped (default 4096)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 weights and autocast (GPUs that have it)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations: less memory, ~30%% slower")
    p.add_argument("--save-every", type=int, default=100, help="checkpoint every N optimizer steps (default 100)")
    p.add_argument("--seed", type=int, default=0, help="example order and initialisation seed (default 0)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code from its folder or hub repo")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    p.add_argument("--dry-run", action="store_true", help="read everything, encode the first batch, train nothing")
    p.add_argument("--merge", action="store_true", help="merge --adapter into its base model and save it to --out")
    p.add_argument("--adapter", metavar="DIR", help="with --merge: the adapter folder (--out/adapter of a run)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _train_fgclip(args: argparse.Namespace) -> int:
    from vigil.app.train import FgclipRequest, train_fgclip

    request = FgclipRequest(args.annotations, args.videos, args.model, out=args.out, steps=args.steps,
                            batch_size=args.batch_size, region_weight=args.region_weight, lr=args.lr,
                            frames=args.frames, save_every=args.save_every, seed=args.seed, resume=args.resume)
    result = train_fgclip(request, progress.fgclip_task)
    summary = result.summary()
    if args.json:
        print_json(summary)
    else:
        print(f"trained {result.steps} steps (resumed at {result.resumed_from}); model in {result.model_dir}")
        print(f"  global loss  {summary['loss_global_first']} -> {summary['loss_global_last']}")
        print(f"  region loss  {summary['loss_region_first']} -> {summary['loss_region_last']}")
    return 0



def _train_vlm(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from vigil.app.train import VlmRequest, merge_vlm, train_vlm

    # the request's fields are the command's options, name for name
    request = VlmRequest(**{f.name: getattr(args, f.name) for f in fields(VlmRequest)})
    if args.merge:
        out = merge_vlm(request)
        if args.json:
            print_json({"merged": str(out)})
        else:
            print(f"merged {args.adapter} into its base: {out}")
            print(f"  serve it: vllm serve {out} --served-model-name vigil-vlm")
        return 0
    kind, result = train_vlm(request, progress.vlm_task)
    if kind == "plan":
        if args.json:
            print_json(result)
        else:
            print(_format_vlm_plan(result))
        return 0
    summary = result.summary()
    if args.json:
        print_json(summary)
    else:
        print(f"trained {result.steps} steps (resumed at {result.resumed_from}); adapter in {result.adapter_dir}")
        print(f"  loss  {summary['loss_first']} -> {summary['loss_last']}")
        print(f"  trainable parameters {result.trainable_parameters:,} of {result.total_parameters:,}")
        for why, n in result.skipped.items():
            print(f"  skipped {n} example(s): {why}")
        print(f"  next: vigil train vlm --merge --adapter {result.adapter_dir} --out {Path(args.out) / 'merged'}")
    return 0


def _format_vlm_plan(r: dict[str, Any]) -> str:
    lines = [f"{r['examples']} example(s), {r['turns']} question/answer turn(s)",
             "  by level: " + ", ".join(f"{k} {v}" for k, v in r["by_level"].items()),
             "  by task:  " + ", ".join(f"{k} {v}" for k, v in r["by_task"].items()),
             f"  media: {r['with_media']} with, {r['without_media']} without ({r['missing_files']} file(s) missing"
             + (f", e.g. {r['first_missing'][0]}" if r["first_missing"] else "") + ")",
             f"  frames per example: {r['frames_per_example']}"
             + (" (" + ", ".join(f"{k} {v}" for k, v in r["sampling"].items()) + ")" if r["sampling"] else ""),
             f"  optimizer steps: {r['steps']} of {r['examples_per_step']} example(s)"]
    if r.get("text_tokens_per_example"):
        t = r["text_tokens_per_example"]
        lines.append(f"  text tokens per example: min {t['min']:g}, mean {t['mean']:g}, max {t['max']:g}")
    if r.get("estimated_tokens_per_example"):
        t = r["estimated_tokens_per_example"]
        lines.append(f"  tokens per example with {r['frames_per_example']} frames of {r['image_tokens_per_frame']:g} "
                     f"tokens: min {t['min']:g}, mean {t['mean']:g}, max {t['max']:g} "
                     f"({r['over_max_tokens']} over --max-tokens)")
    for f in r.get("first_batch", []):
        lines.append(f"  first batch: {f['example']} ({f['level']}: {', '.join(f['tasks'])}) {f['frames']} frames "
                     f"{f['frame_size'][1]}x{f['frame_size'][0]}, {f['tokens']} tokens, {f['answer_tokens']} answer tokens")
    lines += [f"  note: {n}" for n in r.get("notes", [])]
    return "\n".join(lines)
