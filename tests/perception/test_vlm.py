"""vigil train vlm: LoRA on a tiny random Qwen2-VL, loss masking, resume, merge, the dry run."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SHARED_DATA

from vigil.cli import main

pytest.importorskip("peft", reason="the train extra (peft) is not installed")
torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")

OFFICIAL = SHARED_DATA / "hivau" / "merge_instruction_test_final.jsonl"
SMALL = ["--frames", "4", "--frame-width", "112"]  # four frames of a few vision tokens each


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def dataset(synth_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Instruction data cut from the small synthetic camera's test videos."""
    out = tmp_path_factory.mktemp("vlm-ds")
    code, _ = _run(["data", "build", "--annotations", str(synth_small / "hivau.json"), "--out", str(out),
                    "--videos", str(synth_small / "test"), "--dataset", "synth"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def tiny(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2-VL whose vocabulary is the dataset's and the predict prompt's words."""
    from perception.vlm.data import read_examples
    from perception.vlm.tiny import tiny_qwen2_vl
    from prompts import load_prompt

    examples = read_examples([dataset / "instructions_train.jsonl"])
    system, user = load_prompt("predict").render(question="", n_frames=4)
    texts = [system, user, "system user assistant", *(f"{t.prompt} {t.answer}" for e in examples for t in e.turns)]
    return tiny_qwen2_vl(tmp_path_factory.mktemp("tiny") / "model", texts)


def _train_args(dataset: Path, tiny: Path, out: Path, *extra: str, steps: int = 20) -> list[str]:
    return ["train", "vlm", "--instructions", str(dataset / "instructions_train.jsonl"), "--videos", str(dataset),
            "--model", str(tiny), "--out", str(out), *SMALL, "--batch-size", "2", "--grad-accum", "1",
            "--lr", "2e-2", "--max-steps", str(steps), "--save-every", "5", "--json", *extra]


class _Planted:
    """A pickle payload: unpickling it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_lora_steps_lower_the_loss_and_an_interrupted_run_resumes_where_it_stopped(
        dataset: Path, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = _run(_train_args(dataset, tiny, tmp_path / "a"))
    assert code == 0
    summary = json.loads(text)
    assert summary["steps"] == 20 and summary["skipped"] == {}
    assert summary["loss_last"] <= 0.8 * summary["loss_first"], summary  # 20 LoRA steps learn the answers
    assert 0 < summary["trainable_parameters"] < summary["total_parameters"] / 4
    full = json.loads((tmp_path / "a" / "train_state.json").read_text())["losses"]
    assert len(full) == 20
    # only LoRA weights of the language model train; the vision tower has none
    adapter = json.loads((tmp_path / "a" / "adapter" / "adapter_config.json").read_text())
    assert adapter["target_modules"] and not any("visual" in m for m in adapter["target_modules"])

    # the same run interrupted after step 7 (last checkpoint: step 5), then resumed
    import perception.vlm.train as vt

    real = vt.train_vlm

    class Interrupted(Exception):
        pass

    def stop_at_7(*args: Any, **kwargs: Any) -> Any:
        inner = kwargs["progress"]

        def progress(step: int, total: int, loss: float) -> None:
            inner(step, total, loss)
            if step == 7:
                raise Interrupted

        return real(*args, **{**kwargs, "progress": progress})

    monkeypatch.setattr(vt, "train_vlm", stop_at_7)
    with pytest.raises(Interrupted):
        _run(_train_args(dataset, tiny, tmp_path / "b"))
    monkeypatch.setattr(vt, "train_vlm", real)
    assert json.loads((tmp_path / "b" / "train_state.json").read_text())["step"] == 5
    code, text = _run(_train_args(dataset, tiny, tmp_path / "b", "--resume"))
    assert code == 0 and json.loads(text)["resumed_from"] == 5
    resumed = json.loads((tmp_path / "b" / "train_state.json").read_text())["losses"]
    assert resumed == pytest.approx(full, rel=1e-5)  # the same batches, weights and optimizer state

    # a pickle planted in the checkpoint is refused with one line, unrun
    marker = tmp_path / "ran"
    torch.save({"state": _Planted(marker)}, tmp_path / "b" / "checkpoint" / "optimizer.pt")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code, _ = _run(_train_args(dataset, tiny, tmp_path / "b", "--resume", steps=25))
    lines = err.getvalue().strip().splitlines()
    assert code == 2 and not marker.exists()
    assert len(lines) == 1 and "refused" in lines[0] and "start over without --resume" in lines[0], lines


def test_the_loss_covers_only_the_answers(dataset: Path, tiny: Path) -> None:
    from perception.vlm.data import IGNORE, FrameSource, encode, read_examples
    from perception.vlm.processor import load_processor
    from prompts import load_prompt

    processor = load_processor(tiny)
    prompt = load_prompt("predict")
    examples = read_examples([dataset / "instructions_train.jsonl"])
    conv = next(e for e in examples if len(e.turns) == 3)  # judgement, description, analysis
    frames = FrameSource(dataset, frames=4, width=112).frames(conv.video)
    assert frames is not None and len(frames) == 4
    enc = encode(processor, conv, frames, lambda q, n: prompt.render(question=q, n_frames=n))
    ids, labels = enc["input_ids"][0], enc["labels"][0]
    tok = processor.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")
    # labelled tokens are exactly each answer followed by its end-of-turn token
    expected: list[int] = []
    for turn in conv.turns:
        expected += tok(turn.answer, add_special_tokens=False)["input_ids"] + [end]
    assert ids[labels != IGNORE].tolist() == expected
    assert (labels[labels != IGNORE] == ids[labels != IGNORE]).all()
    # the prompt, the questions and every image token carry no loss
    image = tok.convert_tokens_to_ids("<|image_pad|>")
    n_image = int((ids == image).sum())
    assert n_image == int(enc["image_grid_thw"].prod(dim=1).sum()) // 4 and n_image >= 4
    assert not (labels == image).any()
    question = tok(conv.turns[1].prompt, add_special_tokens=False)["input_ids"]
    starts = [i for i in range(len(ids) - len(question)) if ids[i:i + len(question)].tolist() == question]
    assert starts and all((labels[s:s + len(question)] == IGNORE).all() for s in starts)


def test_a_merged_adapter_loads_with_from_pretrained_and_generates(dataset: Path, tiny: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from perception.vlm.processor import load_processor

    code, _ = _run(_train_args(dataset, tiny, tmp_path / "run", steps=3))
    assert code == 0
    merged = tmp_path / "merged"
    code, text = _run(["train", "vlm", "--merge", "--adapter", str(tmp_path / "run" / "adapter"), "--out", str(merged),
                       "--json"])
    assert code == 0 and json.loads(text) == {"merged": str(merged)}
    # vLLM loads the folder by its architecture and the processor as the model's own class
    assert json.loads((merged / "config.json").read_text())["architectures"] == ["Qwen2VLForConditionalGeneration"]
    assert json.loads((merged / "processor_config.json").read_text())["processor_class"] == "Qwen2VLProcessor"
    model = AutoModelForImageTextToText.from_pretrained(str(merged)).eval()
    processor = load_processor(merged)
    chat = [{"role": "user", "content": [{"type": "text", "text": "Is there an anomaly?"}, {"type": "image"}]}]
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    enc = processor(text=[text], images=[np.full((84, 112, 3), 90, np.uint8)], return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]
    # merging changes nothing the adapter does: the same logits as base + adapter
    base = AutoModelForImageTextToText.from_pretrained(str(tiny))
    with_adapter = PeftModel.from_pretrained(base, str(tmp_path / "run" / "adapter")).eval()
    with torch.no_grad():
        diff = (with_adapter(**enc).logits - model(**enc).logits).abs().max()
    assert float(diff) < 1e-4


def test_the_dry_run_reads_every_official_row_and_counts_those_without_media(tmp_path: Path) -> None:
    if not OFFICIAL.is_file():
        pytest.skip(f"the official HIVAU-70k test instructions are not in {OFFICIAL.parent} (the shared data folder "
                    "sits beside the checkout)")
    rows = [json.loads(line) for line in OFFICIAL.read_text().splitlines() if line.strip()]
    (tmp_path / "videos").mkdir()
    code, text = _run(["train", "vlm", "--instructions", str(OFFICIAL), "--videos", str(tmp_path / "videos"),
                       "--model", "tiny-random", "--out", str(tmp_path / "out"), "--dry-run", "--json"])
    assert code == 0
    report = json.loads(text)
    assert report["examples"] == len(rows) == 3339
    assert report["without_media"] == 3339 and report["with_media"] == 0
    assert report["missing_files"] == len({r["video"] for r in rows})
    assert report["by_level"] == dict(Counter(r["type"] for r in rows))
    assert report["by_task"] == dict(Counter(r["task"] for r in rows))
    assert report["text_tokens_per_example"]["min"] > 0 and report["first_batch"] == []
    assert not (tmp_path / "out" / "checkpoint").exists()


def test_the_dry_run_on_footage_shows_the_first_batch_and_where_ats_has_scores(dataset: Path, tiny: Path,
                                                                                tmp_path: Path) -> None:
    test_rows = dataset / "instructions_test.jsonl"
    first = json.loads(test_rows.read_text().splitlines()[0])
    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / f"{Path(first['video']).stem}.csv").write_text(
        "frame,time_s,score\n" + "".join(f"{i},{i / 10:.2f},{1.0 if 100 < i < 200 else 0.0}\n" for i in range(400)))
    code, text = _run(["train", "vlm", "--instructions", str(test_rows), str(dataset / "instructions_train.jsonl"),
                       "--videos", str(dataset), "--model", str(tiny), "--out", str(tmp_path / "out"), *SMALL,
                       "--scores", str(scores), "--batch-size", "2", "--dry-run", "--json"])
    assert code == 0
    r = json.loads(text)
    n_test = len(test_rows.read_text().splitlines())
    assert r["examples"] == n_test + len((dataset / "instructions_train.jsonl").read_text().splitlines())
    # every file with that name (its test rows and its conversation) is sampled over its scores
    same = sum(1 for line in test_rows.read_text().splitlines() if json.loads(line)["video"] == first["video"]) + 1
    assert r["sampling"] == {"ats-scores": same, "uniform": r["examples"] - same}
    assert len(r["first_batch"]) == 2 and all(b["frames"] == 4 and b["answer_tokens"] > 0 for b in r["first_batch"])
    assert r["first_batch_tensors"]["input_ids"][0] == 2 and r["image_tokens_per_frame"] > 0


def test_bad_input_is_one_line_and_exit_2(dataset: Path, tiny: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 0, "type": "clip", "video": "a.mp4", "prompt": "q", "anwser": "a"}\n{"id": 1, "type"\n')
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    cases = [
        (["--instructions", str(tmp_path / "absent.jsonl"), "--videos", str(dataset)], "file not found"),
        (["--instructions", str(broken), "--videos", str(dataset)], "broken.jsonl:2: not valid JSON"),
        (["--instructions", str(dataset / "instructions_test.jsonl"), "--videos", str(tmp_path / "no")], "folder not found"),
        (["--instructions", str(dataset / "instructions_test.jsonl"), "--videos", str(nothing)], "has its media file"),
        (["--instructions", str(dataset / "instructions_test.jsonl"), "--videos", str(dataset), "--resume"], "no checkpoint"),
    ]
    for extra, message in cases:
        code = main(["train", "vlm", *extra, "--model", str(tiny), "--out", str(tmp_path / "o"), *SMALL])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (extra, err)
    code = main(["train", "vlm", "--merge", "--adapter", str(tmp_path), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "no adapter_config.json" in err
    code = main(["train", "vlm", "--videos", str(dataset), "--model", str(tiny), "--out", str(tmp_path / "o")])
    assert code == 2 and "needs --instructions" in capsys.readouterr().err



def _without_hub(argv: list[str], home: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """``vigil argv`` in a child whose model hub refuses every connection (a closed local port) and
    whose Hugging Face cache is ``home``: nothing leaves the machine. Returns the result and seconds."""
    import vigil

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(home), PYTHONPATH=str(Path(vigil.__file__).parents[1]))
    started = time.perf_counter()
    # without a network the hub used to be retried for minutes: the timeout bounds that failure
    proc = subprocess.run([sys.executable, "-m", "vigil", *argv], capture_output=True, text=True, env=env, timeout=90)
    return proc, time.perf_counter() - started


def _one_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("vigil: error: "), proc.stderr
    return lines[0]


def test_a_model_id_the_hub_cannot_give_is_one_line_within_seconds_and_a_cached_one_loads(tmp_path: Path) -> None:
    from helpers import write_clip

    from perception.vlm.tiny import tiny_qwen2_vl

    videos = tmp_path / "videos"
    for name in ("a.mp4", "b.mp4"):
        write_clip(videos / name, 20, fps=10.0, size=(96, 64))
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": 0, "type": "clip", "video": "a.mp4", "prompt": "what happens", "anwser": "people walk"}\n')
    home = tmp_path / "hf"
    vlm = ["train", "vlm", "--instructions", str(rows), "--videos", str(videos), "--out", str(tmp_path / "out"), *SMALL]
    missing = "some-org/missing"
    # the dry run notes it in its report; the run stops at it
    proc, took = _without_hub([*vlm, "--model", missing, "--dry-run"], home)
    assert proc.returncode == 0 and took < 30, (took, proc.stderr)
    (note,) = [line for line in proc.stdout.splitlines() if missing in line]
    assert "cannot be reached" in note and "pass a local folder" in note
    proc, took = _without_hub([*vlm, "--model", missing], home)
    assert took < 30 and f"--model {missing}: not a local folder" in _one_error(proc)
    # every model loaded by hub id: FG-CLIP and the V-JEPA 2 encoder too
    annotations = tmp_path / "fgclip.json"
    annotations.write_text(json.dumps([{"video": n, "global_caption": "people walk"} for n in ("a.mp4", "b.mp4")]))
    proc, took = _without_hub(["train", "fgclip", "--annotations", str(annotations), "--videos", str(videos),
                               "--model", missing, "--out", str(tmp_path / "clip")], home)
    assert took < 30 and "pass a local folder" in _one_error(proc)
    proc, took = _without_hub(["--data-dir", str(tmp_path / "data"), "fit", "--camera", "c", "--normal",
                               str(videos / "a.mp4"), "--detector", "none", "--encoder", "vjepa2",
                               "--encoder-model", missing], home)
    assert took < 30 and f"--encoder-model {missing}" in _one_error(proc)

    # a hub id whose files are in the local cache loads from there, with the hub unreachable
    snapshot = home / "hub" / "models--some-org--cached" / "snapshots" / ("0" * 40)
    tiny_qwen2_vl(snapshot, ["what happens", "people walk"])
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    proc, _ = _without_hub([*vlm, "--model", "some-org/cached", "--max-steps", "1", "--batch-size", "1",
                            "--grad-accum", "1", "--json"], home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"] == 1
    adapter = json.loads((tmp_path / "out" / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "some-org/cached"  # the id, not the cache's folder


def test_an_out_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": 0, "type": "clip", "video": "a.mp4", "prompt": "what happens", "anwser": "people walk"}\n')
    (tmp_path / "videos").mkdir()
    taken = tmp_path / "taken"
    taken.write_text("a file")
    base = ["train", "vlm", "--instructions", str(rows), "--videos", str(tmp_path / "videos"), "--model", "tiny-random"]
    for out in (taken, taken / "run"):
        for extra in ([], ["--dry-run"]):
            assert main([*base, "--out", str(out), *extra]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and f"--out {out}: not a folder" in err[0], err
    assert taken.read_text() == "a file"
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path / "base")}))
    assert main(["train", "vlm", "--merge", "--adapter", str(adapter), "--out", str(taken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a folder" in err[0], err
