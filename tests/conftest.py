"""Shared fixtures: reference data from ../shared/data and small synthetic datasets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    """The real reference clips, or a skip when the shared folder is not beside the checkout."""
    folder = SHARED_DATA / "videos"
    if not (folder / "robbery.mp4").is_file():
        pytest.skip(f"reference clips not found in {folder} (the shared data folder sits beside the checkout)")
    return folder


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset: one training video, every anomaly type once, one normal test video."""
    from data_engine.synthetic import SynthSpec, synthesize

    out = tmp_path_factory.mktemp("synth")
    synthesize(SynthSpec(seed=7, n_train=1, per_type=1, n_normal_test=1, duration=40.0, fps=10.0, width=160, height=120), out)
    return out
