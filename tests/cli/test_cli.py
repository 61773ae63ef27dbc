"""The command line: help with examples, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.cli import main

COMMANDS = [["probe"], ["config"], ["fit"], ["score"], ["bench"], ["watch"], ["ask"], ["demo"], ["data"], ["data", "synth"],
            ["data", "build"], ["eval"], ["eval", "vad"], ["eval", "sampler"], ["eval", "alerts"], ["eval", "ask"],
            ["eval", "captions"], ["eval", "predict"]]


def test_console_script_lists_the_commands() -> None:
    exe = Path(sys.executable).parent / "vigil"
    assert exe.is_file(), "the vigil console script is not installed next to this Python"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60).stdout
    for name in ("probe", "config", "fit", "score", "bench", "watch", "ask", "demo", "data", "eval"):
        assert f"    {name}" in out
    assert "example:" in out


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "vigil " in out.split("example:")[1]


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vigil: error: "), err
    return lines[0]


def test_bad_inputs_give_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIGIL_CONFIG", raising=False)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "bad.yaml").write_text("cameras: {lobby: {fps: [8}\n")
    (tmp_path / "ok.yaml").write_text("cameras: {lobby: {}}\n")
    assert "video not found: missing.mp4" in _error(["probe", "missing.mp4"], capsys)
    assert "empty.mp4 is empty (0 bytes)" in _error(["probe", "empty.mp4"], capsys)
    assert "invalid YAML at line 1" in _error(["--config", "bad.yaml", "config"], capsys)
    assert "unknown camera 'garage'" in _error(["--config", "ok.yaml", "probe", "x.mp4", "--camera", "garage"], capsys)
    assert "cannot open stream rtsp://127.0.0.1:9/x" in _error(["probe", "rtsp://127.0.0.1:9/x"], capsys)
    assert "ground truth not found" in _error(["eval", "vad", "--gt", "gt.json", "--scores", "."], capsys)
    assert "at least 40 s" in _error(["data", "synth", "out", "--duration", "5"], capsys)
    assert "expected WIDTHxHEIGHT" in _error(["data", "synth", "out", "--size", "big"], capsys)


def test_probe_reports_what_was_read(shared_videos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", str(shared_videos / "car_accident.mp4"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source_size"] == [640, 480] and report["frame_size"] == [320, 240]
    assert report["sampled_frames"] == 32 and report["windows"] == 3


def test_synth_says_where_footage_and_truth_went(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    argv = ["data", "synth", str(out), "--train", "0", "--per-type", "0", "--normal", "1", "--fps", "5", "--size", "160x120"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert str(out / "gt.json") in text and "test" in text
    assert (out / "test" / "test_000_normal.mp4").is_file()
