"""The motion encoder on synthetic footage: it sees a fall, a run and a left bag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perception.encoders import encoder_names, get_encoder
from perception.encoders.motion import FEATURES, MotionEncoder
from perception.source.video import open_video
from perception.source.windows import iter_windows
from vigil.core.schemas import load_ground_truth

F = {name: i for i, name in enumerate(FEATURES)}


@pytest.fixture(scope="module")
def encoder(synth_small: Path) -> MotionEncoder:
    enc = get_encoder("motion", fps=8)

    def frames(path: Path):
        with open_video(path, fps=2, width=320) as video:
            for f in video.frames():
                yield f.image

    enc.fit(frames(p) for p in sorted((synth_small / "train").glob("*.mp4")))
    return enc  # type: ignore[return-value]


def _cells(enc: MotionEncoder, path: Path) -> tuple[np.ndarray, np.ndarray]:
    enc.reset()
    with open_video(path, fps=8, width=320) as video:
        pairs = [(w.center_s, enc.embed(w).cells) for w in iter_windows(video.frames(), size=16, stride=8, fps=8)]
    return np.array([t for t, _ in pairs]), np.stack([c for _, c in pairs])


def _video(synth_small: Path, kind: str) -> tuple[Path, tuple[float, float]]:
    truth = load_ground_truth(synth_small / "gt.json")
    (name,) = [n for n, t in truth.items() if t.events and t.events[0][2] == kind]
    start, end, _ = truth[name].events[0]
    return synth_small / truth[name].path, (start, end)


def test_registry_and_learned_scene(encoder: MotionEncoder) -> None:
    assert {"motion", "vjepa2"} <= set(encoder_names())
    assert encoder.background is not None and encoder.background.shape == (120, 160, 3)
    slope, _ = encoder.perspective
    assert slope > 0  # people look taller near the bottom of the frame


def test_a_fallen_person_is_a_wide_persistent_blob(encoder: MotionEncoder, synth_small: Path) -> None:
    path, (start, end) = _video(synth_small, "falling")
    times, cells = _cells(encoder, path)
    lying = cells[(times > start + 3) & (times < end - 1)]
    before = cells[times < start - 2]
    assert np.median(lying[..., F["persist_aspect"]].max(axis=(1, 2))) > 1.3
    assert np.median(before[..., F["persist_aspect"]].max(axis=(1, 2))) < 1.3


def test_a_runner_is_faster_than_walkers(encoder: MotionEncoder, synth_small: Path) -> None:
    """Speeds in body heights per second, as the tracker follows the encoder's blobs (scene facts)."""
    from perception.track.scene import scene_facts

    def people(path: Path, t0: float = 0.0, t1: float = 1e9) -> list:
        with open_video(path, fps=8, width=320) as video:
            frames = [f for f in video.frames() if t0 <= f.t <= t1]
        return [t for t in scene_facts(frames, encoder, fps=8).tracks if t.kind == "person" and t.duration_s >= 1.5]

    path, (start, end) = _video(synth_small, "running")
    runner = max(t.sustained_speed(0.75) for t in people(path, start - 1, end + 1))
    walkers = [t.sustained_speed(0.75) for t in people(next((synth_small / "train").glob("*.mp4")))]
    assert runner > 1.5
    assert np.quantile(walkers, 0.9) < 1.3


def test_a_left_bag_stays_in_the_persistent_foreground(encoder: MotionEncoder, synth_small: Path) -> None:
    path, (start, end) = _video(synth_small, "abandoned_object")
    times, cells = _cells(encoder, path)
    after = cells[(times > start + 4) & (times < end)][..., F["persist_size"]].max(axis=(1, 2))
    assert np.mean(after > 0) > 0.9


def test_state_round_trip_gives_identical_embeddings(encoder: MotionEncoder, synth_small: Path) -> None:
    clone = MotionEncoder.from_state(encoder.state())
    path = next((synth_small / "test").glob("*.mp4"))
    _, a = _cells(encoder, path)
    _, b = _cells(clone, path)
    assert np.array_equal(a, b)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="work_width"):
        get_encoder("motion", work_width=8)
    with pytest.raises(ValueError, match="unknown encoder 'flow'.*motion"):
        get_encoder("flow")


def test_match_shift_follows_a_flat_blob_that_moved_more_than_its_width() -> None:
    """A flat-coloured figure 6 px wide that moved 7 px: optical flow reads almost nothing inside
    it, matching its pixels in the previous frame reads the step (to a fraction of a pixel)."""
    from perception.encoders.motion import match_shift

    def frame(x: int) -> tuple[np.ndarray, np.ndarray]:
        image = np.full((60, 80, 3), 120, np.uint8)
        image[20:40, x:x + 6] = (200, 60, 40)   # body
        image[20:24, x + 1:x + 5] = (230, 190, 160)  # head
        fg = np.zeros((60, 80), bool)
        fg[20:40, x:x + 6] = True
        return image, fg

    (prev, prev_fg), (cur, cur_fg) = frame(30), frame(37)
    dx, dy = match_shift(prev, cur, prev_fg, cur_fg[20:40, 37:43], (37, 20, 6, 20), reach=12)
    assert abs(dx - 7.0) < 0.5 and abs(dy) < 0.5
    # beyond the reach there is no reading rather than a wrong one
    assert match_shift(prev, cur, prev_fg, cur_fg[20:40, 37:43], (37, 20, 6, 20), reach=4) is None
    # nor where the place it would have come from was background
    assert match_shift(prev, cur, np.zeros_like(prev_fg), cur_fg[20:40, 37:43], (37, 20, 6, 20), reach=12) is None


def test_profiles_fitted_before_matched_speeds_keep_reading_flow() -> None:
    old = MotionEncoder.from_state({"name": "motion", "config": {"work_width": 160, "fps": 8.0}, "arrays": {}})
    new = get_encoder("motion", fps=8)
    assert not old.config.match_speeds and old.version.startswith("motion-6/")
    assert new.config.match_speeds and new.version.startswith("motion-7/")  # type: ignore[attr-defined]
