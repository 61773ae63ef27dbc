"""Small input checks, an endpoint that 404s, two watches at once on one camera."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from faults import camera_args, parse_alerts, vigil_run
from helpers import FakeOpenAI, synth_video

from vigil.core.store import Store


def test_minor_input_checks(synth_small: Path, fitted_camera: tuple[Path, Path], data: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    gt = str(synth_small / "gt.json")
    for tau in ("-1", "nan", "inf"):
        code, _out, err = vigil_run(capsys, "eval", "sampler", "--gt", gt, "--scores", str(fitted_camera[1]), "--tau", tau)
        assert code == 2 and "--tau" in err and "Traceback" not in err
    code, _out, err = vigil_run(capsys, "--data-dir", str(data), "eval", "alerts", "--gt", gt, "--camera", "nosuch")
    assert code == 2 and "unknown camera 'nosuch'" in err
    code, out, _err = vigil_run(capsys, "--data-dir", str(data), "eval", "alerts", "--gt", gt, "--camera", "plaza", "--json")
    assert code == 0 and json.loads(out)["precision"] is None  # no alerts: undefined, not perfect
    bad = tmp_path / "zone.yaml"
    bad.write_text("cameras:\n  lobby:\n    zones:\n      - {name: door, kind: restricted, polygon: [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]}\n")
    code, _out, err = vigil_run(capsys, "--config", str(bad), "config")
    assert code == 2 and "encloses no area" in err
    # options that must be above zero say so instead of running with nothing (or crashing)
    for argv in (["watch", synth_video(synth_small, "falling"), "--camera", "plaza", "--max-seconds", "-5"],
                 ["data", "build", "--from-footage", synth_video(synth_small, "falling"), "--camera", "plaza",
                  "--out", str(tmp_path / "ff"), "--clip-seconds", "0"],
                 ["probe", synth_video(synth_small, "falling"), "--fps", "0"]):
        code, _out, err = vigil_run(capsys, *camera_args(synth_small, data), *argv)
        assert code == 2 and "must be a number above 0" in err and "Traceback" not in err, argv


def test_a_chat_endpoint_that_404s_is_reported_once(synth_small: Path, data: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    server = FakeOpenAI(lambda req: (404, {"error": "no such route"}))
    try:
        code, out, err = vigil_run(capsys, *camera_args(synth_small, data), "watch", synth_video(synth_small, "falling"), "--camera",
                                "plaza", "--json", "--llm-url", server.url, "--llm-model", "fake")
    finally:
        server.close()
    warnings = [line for line in err.splitlines() if line.startswith("vigil: warning:")]
    assert code == 3 and len(warnings) == 1 and "HTTP 404" in warnings[0] and "/v1" in warnings[0]
    assert parse_alerts(out) and all(a.explained_by == "rules" for a in parse_alerts(out))


def test_two_watches_start_together_on_a_new_data_dir(synth_small: Path, data: Path) -> None:
    # both open a store that does not exist yet and share the pattern memory: neither fails,
    # each raises its alert once
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [subprocess.Popen([sys.executable, "-c", "import sys; from vigil.cli import main; sys.exit(main())",
                              *camera_args(synth_small, data), "watch", synth_video(synth_small, kind), "--camera", "plaza",
                              "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for kind in ("falling", "running")]
    results = [run.communicate(timeout=300) for run in runs]
    for kind, run, (out, err) in zip(("falling", "running"), runs, results):
        assert run.returncode == 0, err[-800:]
        assert [a.event_type for a in parse_alerts(out)] == [kind]
    with Store(data / "vigil.db") as store:
        assert sorted(a["event_type"] for a in store.find_alerts()) == ["falling", "running"]


def test_two_watches_of_one_camera_both_keep_what_they_learned(synth_small: Path, data: Path) -> None:
    # each watch loads the profile, learns, and saves at its end: the later save must not wipe
    # out what the earlier one learned, nor a refit of the camera made meanwhile
    from agents.graph import AlertGraph
    from agents.watch import Watcher
    from perception.profile import CameraProfile
    from vigil.core.config import load_settings
    from vigil.core.store import DataDir

    camera = load_settings(synth_small / "vigil.yaml", environ={}).camera("plaza")
    dd, folder = DataDir(data), data / "plaza" / "profile"
    graph = AlertGraph(None, data / "ckpt.db")
    try:
        with dd.open_store() as store:
            first, second = (Watcher("plaza", camera, CameraProfile.load(folder, "plaza"), dd, store, graph)
                             for _ in range(2))
            first.profile.engram.update(11, "anomaly", 2)
            second.profile.engram.update(22, "normal", 3)
            first.save_memory()
            second.save_memory()
            second.profile.engram.update(22, "normal", 1)
            second.save_memory()  # only what it learned since its last save is added
    finally:
        graph.close()
    saved = CameraProfile.load(folder, "plaza").engram
    assert saved.lookup(11) == (0, 2) and saved.lookup(22) == (4, 0)
