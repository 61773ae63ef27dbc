"""Sources that are partial, spelled twice, replaced, too short or bad in a batch."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from faults import camera_args, parse_alerts, vigil_run
from helpers import synth_video, write_clip

from vigil.core.schemas import load_ground_truth
from vigil.core.store import Store


def test_a_partial_scan_is_not_taken_for_a_complete_one(synth_small: Path, data: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    truth = load_ground_truth(synth_small / "gt.json")
    video = synth_video(synth_small, "falling")
    start, end, _ = truth[Path(video).stem].events[0]
    assert start > 8.0
    code, _out, _err = vigil_run(capsys, *camera_args(synth_small, data), "watch", video, "--camera", "plaza", "--max-seconds", "5")
    assert code == 0
    with Store(data / "vigil.db") as store:
        (row,) = store.videos("plaza")
    assert row["scanned_until"] <= 6.0 and not row["complete"]
    code, out, _err = vigil_run(capsys, *camera_args(synth_small, data), "ask", "When did someone fall?", "--video", video,
                             "--camera", "plaza", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["found"], answer["answer"]
    assert any(a <= end and b >= start for a, b in answer["intervals"])


def test_a_truncated_file_says_how_much_could_be_read(synth_small: Path, data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    whole = Path(synth_video(synth_small, "normal"))
    cut = tmp_path / "cut.mp4"
    raw = whole.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])  # the index says 40 s; half the frames are gone
    code, _out, err = vigil_run(capsys, *camera_args(synth_small, data), "watch", str(cut), "--camera", "plaza")
    assert code == 0, err
    code, out, _err = vigil_run(capsys, *camera_args(synth_small, data), "ask", "Did anyone fall?", "--video", str(cut), "--json")
    answer = json.loads(out)
    assert code == 0 and not answer["found"] and "could be read" in answer["answer"]


def test_one_file_under_two_spellings_is_one_video(synth_small: Path, data: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    video = Path(synth_video(synth_small, "falling"))
    monkeypatch.chdir(video.parent.parent)
    relative = f"test/{video.name}"
    code, out1, _ = vigil_run(capsys, *camera_args(synth_small, data), "watch", relative, "--camera", "plaza", "--json")
    code2, out2, _ = vigil_run(capsys, *camera_args(synth_small, data), "watch", str(video.parent / ".." / "test" / video.name),
                            "--camera", "plaza", "--json")
    assert code == code2 == 0 and parse_alerts(out1) and not parse_alerts(out2)
    code, out, _ = vigil_run(capsys, *camera_args(synth_small, data), "ask", "How many people fell?", "--camera", "plaza", "--json")
    assert json.loads(out)["answer"].startswith("1:")
    with Store(data / "vigil.db") as store:
        assert len(store.videos("plaza")) == 1


def test_a_file_replaced_at_the_same_path_is_a_new_video(synth_small: Path, data: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "current.mp4"
    shutil.copy(synth_video(synth_small, "normal"), path)
    assert vigil_run(capsys, *camera_args(synth_small, data), "watch", str(path), "--camera", "plaza")[0] == 0
    shutil.copy(synth_video(synth_small, "falling"), path)  # the recorder wrote a new file under the old name
    code, out, _ = vigil_run(capsys, *camera_args(synth_small, data), "ask", "Did anyone fall?", "--video", str(path),
                          "--camera", "plaza", "--json")
    assert code == 0 and json.loads(out)["found"]


@pytest.mark.parametrize("frames", [1, 2])
def test_one_or_two_frame_videos_do_not_crash(frames: int, synth_small: Path, data: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_clip(tmp_path / f"f{frames}.mp4", frames, fps=10.0, size=(160, 120))
    base = camera_args(synth_small, data)
    code, _out, err = vigil_run(capsys, *base, "watch", str(clip), "--camera", "plaza")
    assert code == 0 and "Traceback" not in err
    code, _out, err = vigil_run(capsys, *base, "score", str(clip), "--camera", "plaza", "--out", str(tmp_path / "s.csv"))
    assert code == 0 and (tmp_path / "s.csv").is_file()
    code, _out, err = vigil_run(capsys, *base, "fit", "--camera", "tiny", "--normal", str(clip))
    assert code == 2 and err.startswith("vigil: error: not enough normal footage") and len(err.splitlines()) == 1


def test_a_four_second_normal_clip_gets_a_clear_error(synth_small: Path, data: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import av

    short = tmp_path / "four.mp4"
    with av.open(synth_video(synth_small, "normal")) as src, av.open(str(short), "w") as dst:
        stream = dst.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= 40:
                break
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    code, _out, err = vigil_run(capsys, *camera_args(synth_small, data), "fit", "--camera", "short", "--normal", str(short))
    assert code == 2 and "not enough normal footage" in err and "Traceback" not in err


def test_one_bad_source_does_not_stop_the_batch(synth_small: Path, data: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    falling, running = synth_video(synth_small, "falling"), synth_video(synth_small, "running")
    code, out, err = vigil_run(capsys, *camera_args(synth_small, data), "watch", str(tmp_path / "missing.mp4"), falling, str(junk),
                            running, "--camera", "plaza", "--json")
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("vigil: error:")]
    assert len(errors) == 2 and "missing.mp4" in errors[0] and "junk.mp4" in errors[1]
    kinds = {a.event_type for a in parse_alerts(out)}
    assert {"falling", "running"} <= kinds
    code, _out, err = vigil_run(capsys, *camera_args(synth_small, data), "score", str(junk), falling, "--camera", "plaza",
                             "--out", str(tmp_path / "scores"))
    assert code == 2 and (tmp_path / "scores" / f"{Path(falling).stem}.csv").is_file()
