"""ATS and its baselines: integer, deterministic, focused where scores are high."""

from __future__ import annotations

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
