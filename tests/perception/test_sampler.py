"""ATS and its baselines: integer, deterministic, focused where scores are high."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.sampler import context_coverage
from perception.sampler import AnomalyFocusedSampler, get_sampler, topk_sample, uniform_sample


def _scores(n: int = 200, start: int = 120, end: int = 150) -> np.ndarray:
    s = np.full(n, 0.05)
    s[start:end] = 0.9
    return s


def test_ats_puts_more_frames_inside_the_anomaly_than_uniform_and_keeps_context() -> None:
    s = _scores()
    inside = np.zeros(200, bool)
    inside[120:150] = True
    for n in (8, 16, 32):
        ats = AnomalyFocusedSampler().sample(s, n)
        uni = uniform_sample(200, n)
        top = topk_sample(s, n)
        assert ats.dtype == np.int64 and len(ats) == n
        assert inside[ats].mean() > inside[uni].mean() + 0.2
        # context: ATS still samples before and after the anomaly, and covers more of the
        # video than top-k
        assert (ats < 120).any() and (ats >= 150).any()
        assert context_coverage(ats, 200, n) > context_coverage(top, 200, n)


def test_ats_is_deterministic_and_sorted() -> None:
    s = np.random.default_rng(0).random(500)
    a = AnomalyFocusedSampler().sample(s, 32)
    b = AnomalyFocusedSampler().sample(s.copy(), 32)
    assert np.array_equal(a, b)
    assert np.all(np.diff(a) >= 0)


def test_edge_cases() -> None:
    ats = AnomalyFocusedSampler()
    # all-zero scores: the tau floor makes it uniform
    assert np.array_equal(ats.sample(np.zeros(100), 10), uniform_sample(100, 10))
    # tau = 0 with all-zero scores still returns integers, uniformly
    assert np.array_equal(AnomalyFocusedSampler(tau=0).sample(np.zeros(50), 5), uniform_sample(50, 5))
    # N >= number of frames: every frame, some twice, unless de-duplicated
    many = ats.sample(np.zeros(5), 12)
    assert len(many) == 12 and set(many.tolist()) == set(range(5))
    assert AnomalyFocusedSampler(dedupe=True).sample(np.zeros(5), 12).tolist() == [0, 1, 2, 3, 4]
    assert ats.sample([], 8).size == 0 and ats.sample([0.5], 0).size == 0
    # NaN scores count as zero rather than poisoning the density
    assert ats.sample(np.array([np.nan, 1.0, 0.0]), 3).dtype == np.int64
    with pytest.raises(ValueError, match="tau"):
        AnomalyFocusedSampler(tau=-1)


def test_baselines_and_registry() -> None:
    assert uniform_sample(10, 5).tolist() == [1, 3, 5, 7, 9]
    assert topk_sample([0.1, 0.9, 0.5, 0.9], 2).tolist() == [1, 3]
    assert get_sampler("topk")([0.0, 1.0], 1).tolist() == [1]
    with pytest.raises(ValueError, match="unknown sampler"):
        get_sampler("random")


def test_frames_of_a_file_follow_its_stored_scores(tmp_path: Path) -> None:
    """What eval predict and train vlm send the VLM: ATS over a file's score CSV picks its high stretch."""
    from perception.recording import stored_scores
    from perception.sampler import sample_video_frames
    from perception.source.video import Mp4Writer

    path = tmp_path / "ramp.mp4"
    writer = Mp4Writer(path, 64, 48, 10.0)
    for k in range(200):  # 20 s; a frame's grey level tells its time: 20 + 10 * t
        writer.write(np.full((48, 64, 3), 20 + k // 2, np.uint8))
    writer.close()
    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / "ramp.csv").write_text("frame,time_s,score\n" + "".join(
        f"{k},{k / 10:.1f},{0.9 if 120 <= k < 160 else 0.0}\n" for k in range(200)))

    def times(frames: list[np.ndarray]) -> np.ndarray:
        return (np.array([f.mean() for f in frames]) - 20) / 5.0

    def inside(t: np.ndarray) -> float:  # share within 12-16 s, half a second of slack
        return float(np.mean((t >= 11.5) & (t < 16.5)))

    ats = times(sample_video_frames(path, 6, "ats", scores=stored_scores(scores, path), width=64))
    uniform = times(sample_video_frames(path, 6, "uniform", width=64))
    assert len(ats) == 6 and inside(ats) >= 0.66 and inside(uniform) <= 0.34
    assert stored_scores(scores, tmp_path / "other.mp4") is None and stored_scores(None, path) is None
