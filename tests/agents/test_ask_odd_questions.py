"""Questions with no recognisable intent, usage errors, unrecognisable things."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faults import camera_args, vigil_run
from helpers import synth_video

from vigil.core.store import Store


@pytest.fixture()
def indexed(synth_small: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    for kind in ("falling", "fighting"):
        assert vigil_run(capsys, *camera_args(synth_small, data), "watch", synth_video(synth_small, kind), "--camera", "plaza")[0] == 0
    return data


@pytest.mark.parametrize("question", ["有人摔倒了吗？", "'; DROP TABLE alerts; --", "???", "When?"])
def test_a_question_with_no_recognisable_intent_says_so(question: str, synth_small: Path, indexed: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = vigil_run(capsys, *camera_args(synth_small, indexed), "ask", question, "--json")
    answer = json.loads(out)
    assert code == 0 and not answer["found"] and not answer["citations"]
    assert "could not tell what to look for" in answer["answer"] and "falling" in answer["answer"]
    with Store(indexed / "vigil.db") as store:
        assert store.alerts("plaza")  # the store is untouched


def test_question_usage_errors(synth_small: Path, indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in ((["ask", "   "], "the question is empty"),
                          (["ask", "Did anyone fall?", "--since", "30", "--until", "10"], "--since 30 is after --until 10")):
        code, _out, err = vigil_run(capsys, *camera_args(synth_small, indexed), *argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_unrecognisable_things_are_named_and_the_rest_is_searched(synth_small: Path, indexed: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = vigil_run(capsys, *camera_args(synth_small, indexed), "ask", "Was there a robbery, or did someone fall?", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["found"] and answer["unrecognised"] == ["robbery"]
    assert "cannot recognise robbery" in answer["answer"] and answer["citations"]
    code, out, _ = vigil_run(capsys, *camera_args(synth_small, indexed), "ask", "Did anyone have a gun?", "--json")
    answer = json.loads(out)
    assert not answer["found"] and answer["answer"].startswith("Vigil cannot recognise gun")
    assert not answer["answer"].startswith("Not found")
