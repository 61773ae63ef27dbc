"""The Engram memory: stable n-gram keys, a gate that suppresses and boosts, verdict updates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.score.engram import EngramMemory


def _memory() -> EngramMemory:
    rng = np.random.default_rng(0)
    # two kinds of normal windows alternate; the memory learns their bigrams
    a = rng.normal(0, 0.05, (40, 4)) + [1, 0, 0, 0]
    b = rng.normal(0, 0.05, (40, 4)) + [0, 1, 0, 0]
    seq = np.empty((80, 4))
    seq[0::2], seq[1::2] = a, b
    return EngramMemory.fit([seq], scale=np.ones(4), k=2, n=2, min_count=3)


def test_familiar_normal_patterns_are_suppressed_and_novel_ones_are_not() -> None:
    m = _memory()
    s = m.stream()
    s.push(np.array([1, 0, 0, 0.0]))
    familiar = s.push(np.array([0, 1, 0, 0.0]))
    assert m.lookup(familiar)[0] >= 30
    assert m.gate(0.8, familiar) < 0.5
    novel = m.key([0, 0])  # the same token twice never happened
    assert m.lookup(novel) == (0, 0)
    assert m.gate(0.8, novel) == 0.8


def test_confirmed_anomalies_boost_and_keys_are_stable() -> None:
    m = _memory()
    key = m.key([1, 1])
    m.update(key, "anomaly")
    once = m.gate(0.4, key)
    m.update(key, "anomaly", weight=3)
    assert 0.4 < once < m.gate(0.4, key) <= 1.0
    assert key == m.key((1, 1)) == _memory().key([1, 1])  # same n-gram, same key, any process


def test_round_trip(tmp_path: Path) -> None:
    m = _memory()
    m.update(m.key([0, 1]), "anomaly", weight=2)
    path = tmp_path / "engram.npz"
    np.savez(path, **m.arrays())
    with np.load(path) as npz:
        back = EngramMemory.restore(m.settings(), {k: npz[k] for k in npz.files})
    assert back.counts == m.counts
    v = np.array([0, 1, 0, 0.0])
    assert back.token(v) == m.token(v)
