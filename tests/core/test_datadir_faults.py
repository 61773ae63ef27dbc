"""Data dirs that are files, read-only, or hold damaged checkpoints and profiles."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from faults import camera_args, vigil_run
from helpers import synth_video


def test_a_data_dir_that_is_a_file(synth_small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "data"
    bogus.write_text("not a folder")
    for argv in (["watch", synth_video(synth_small, "falling"), "--camera", "plaza"],
                 ["fit", "--camera", "x", "--normal", synth_video(synth_small, "normal")],
                 ["ask", "Any falls?"], ["score", synth_video(synth_small, "normal"), "--camera", "plaza", "--out", "x.csv"]):
        code, _out, err = vigil_run(capsys, "--config", str(synth_small / "vigil.yaml"), "--data-dir", str(bogus), *argv)
        assert code == 2 and "is a file, not a folder" in err and len(err.strip().splitlines()) == 1, (argv, err)


def _read_only(folder: Path, argv: list[str]) -> list[str]:
    """``argv`` run where ``folder`` is read-only: a read-only bind mount in a user namespace
    (root may write anywhere else), or plain permissions for an unprivileged user."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return argv
    if shutil.which("unshare") and subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0:
        script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
        return ["unshare", "-rm", "sh", "-c", script, str(folder), *argv]
    pytest.skip("making a folder read-only for root needs unshare (util-linux) with user namespaces")


def test_a_read_only_data_dir_fails_before_fitting(synth_small: Path, tmp_path: Path) -> None:
    ro = tmp_path / "data"
    ro.mkdir()
    argv = [sys.executable, "-c", "import sys; from vigil.cli import main; sys.exit(main())", "--data-dir", str(ro),
            "fit", "--camera", "x", "--normal", synth_video(synth_small, "normal")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(_read_only(ro, argv), capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("vigil: error: data dir") and "not writable" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_damaged_checkpoints_and_profile_give_one_line(synth_small: Path, data: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (data / "checkpoints.db").write_bytes(b"this is not sqlite" * 100)
    code, _out, err = vigil_run(capsys, *camera_args(synth_small, data), "watch", synth_video(synth_small, "falling"), "--camera", "plaza")
    assert code == 2 and "checkpoints.db is not a usable checkpoint database" in err and len(err.strip().splitlines()) == 1
    (data / "checkpoints.db").unlink()
    npz = data / "plaza" / "profile" / "arrays.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    code, _out, err = vigil_run(capsys, *camera_args(synth_small, data), "watch", synth_video(synth_small, "falling"), "--camera", "plaza")
    assert code == 2 and "damaged profile" in err and "fit the camera again" in err and len(err.strip().splitlines()) == 1
