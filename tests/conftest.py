"""Shared fixtures: reference data from ../shared/data and small synthetic datasets."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# the model cache `make test` fills (vigil models pull); tests that need other caches set their own
os.environ.setdefault("VIGIL_MODELS_DIR", str(REPO / "vigil-data" / "models"))
MODELS_DIR = Path(os.environ["VIGIL_MODELS_DIR"])


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    """The real reference clips, or a skip when the shared folder is not beside the checkout."""
    folder = SHARED_DATA / "videos"
    if not (folder / "robbery.mp4").is_file():
        pytest.skip(f"reference clips not found in {folder} (the shared data folder sits beside the checkout)")
    return folder


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic camera: three normal training videos, every anomaly type once, two normal tests."""
    from data_engine.synthetic import SynthSpec, synthesize

    out = tmp_path_factory.mktemp("synth")
    synthesize(SynthSpec(seed=5, n_train=3, per_type=1, n_normal_test=2, duration=40.0, fps=10.0, width=160, height=120), out)
    return out


@pytest.fixture(scope="session")
def fitted_camera(synth_small: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The small synthetic camera fitted as ``plaza``: (data dir, scores dir of its test videos)."""
    from vigil.cli import main

    data = tmp_path_factory.mktemp("data")
    scores = tmp_path_factory.mktemp("scores")
    train = sorted(str(p) for p in (synth_small / "train").glob("*.mp4"))
    test = sorted(str(p) for p in (synth_small / "test").glob("*.mp4"))
    assert main(["--data-dir", str(data), "fit", "--camera", "plaza", "--normal", *train]) == 0
    assert main(["--data-dir", str(data), "score", *test, "--camera", "plaza", "--out", str(scores)]) == 0
    return data, scores

@pytest.fixture()
def data(fitted_camera: tuple[Path, Path], tmp_path: Path) -> Path:
    """A fresh data dir holding only the fitted profile of camera plaza."""
    folder = tmp_path / "data"
    shutil.copytree(fitted_camera[0] / "plaza" / "profile", folder / "plaza" / "profile")
    return folder


@pytest.fixture(scope="session")
def falling_event(synth_small: Path, fitted_camera: tuple[Path, Path]) -> dict[str, Any]:
    """The falling test video scanned with the fitted camera: its candidate event and frames."""
    from perception.pipeline import Scanner
    from perception.profile import CameraProfile
    from perception.score.tripwires import Tripwires
    from vigil.core.config import load_settings
    from vigil.core.schemas import load_ground_truth

    data, _ = fitted_camera
    profile = CameraProfile.load(data / "plaza" / "profile")
    camera = load_settings(synth_small / "vigil.yaml", environ={}).camera("plaza").model_copy(
        update={"fps": profile.fps, "window": profile.window, "frame_width": profile.frame_width})
    truth = load_ground_truth(synth_small / "gt.json")
    (name,) = [n for n, t in truth.items() if t.events and t.events[0][2] == "falling"]
    frames = []
    result = Scanner(profile, camera, tripwires=Tripwires()).scan(str(synth_small / truth[name].path), on_frame=frames.append)
    start = truth[name].events[0][0]
    event = next(e for e in result.events if e.end_s >= start)
    return {"event": event, "frames": frames, "camera": camera, "profile": profile}
