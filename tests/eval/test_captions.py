"""vigil eval captions: predictions it cannot score are refused with one line that says why.

(Scores against pycocoevalcap and the report's layout: tests/data_engine/test_data_engine.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vigil.cli import main

GT = [{"id": 0, "type": "video", "task": "description", "video": "ds/videos/test/a.mp4", "anwser": "A man falls."},
      {"id": 1, "type": "clip", "task": "caption", "video": "ds/clips/test/a_E0C0.mp4", "anwser": "A man walks."}]


def _write(path: Path, rows: list[dict[str, Any]] | str) -> Path:
    path.write_text(rows if isinstance(rows, str) else "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _error(tmp_path: Path, pred: list[dict[str, Any]] | str, capsys: pytest.CaptureFixture[str],
           gt: list[dict[str, Any]] = GT) -> str:
    code = main(["eval", "captions", "--gt", str(_write(tmp_path / "gt.jsonl", gt)),
                 "--pred", str(_write(tmp_path / "pred.jsonl", pred))])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("vigil: error:"), captured
    assert captured.out == ""
    return lines[0]


def test_ids_that_match_but_are_about_another_item_say_what_differs(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pred = [{**GT[0], "type": "event", "task": "judgement", "anwser": "x"},
            {**GT[1], "task": "description", "anwser": "y"}]
    err = _error(tmp_path, pred, capsys)
    assert "2 prediction id(s) match ground-truth ids but are about another item" in err
    assert "id 0: type 'event' (ground truth 'video'), task 'judgement' (ground truth 'description')" in err
    assert "no prediction matches" not in err


def test_a_repeated_prediction_id_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred = [{**GT[0], "anwser": "A man falls."}, {**GT[1], "anwser": "first"}, {**GT[1], "anwser": "second"}]
    err = _error(tmp_path, pred, capsys)
    assert "pred.jsonl: id 1 appears more than once" in err


@pytest.mark.parametrize("answer, says", [(None, "the answer is null, not text"), (3, "the answer is int, not text")])
def test_an_answer_that_is_not_text_is_refused(tmp_path: Path, answer: Any, says: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(tmp_path, [{**GT[0], "anwser": "A man falls."}, {**GT[1], "anwser": answer}], capsys)
    assert f"pred.jsonl: id 1: {says}" in err


def test_a_lone_surrogate_is_refused_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # "\ud800" in JSON decodes to a lone surrogate: not text that can be written for the tokenizer
    pred = '{"id": 0, "type": "video", "task": "description", "video": "ds/videos/test/a.mp4", "anwser": "A man \\ud800 falls."}\n'
    err = _error(tmp_path, pred, capsys)
    assert "pred.jsonl: id 0: the answer is not valid text (it holds a lone surrogate)" in err


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = json.dumps({**GT[0], "anwser": "ok"}) + "\n"
    (tmp_path / "raw.jsonl").write_bytes(good.encode() + b'{"id": 1, "anwser": "\xff"}\n')
    code = main(["eval", "captions", "--gt", str(_write(tmp_path / "gt.jsonl", GT)), "--pred", str(tmp_path / "raw.jsonl")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith("raw.jsonl:2: not UTF-8 text") and len(err.splitlines()) == 1
