"""Engram conditional memory: remembered patterns that gate the anomaly score.

Each window's clip vector is quantised to a codebook token (k-means on the camera's normal
footage). The last ``n`` tokens of a source form an n-gram, hashed to a 64-bit key; a dict maps
keys to counts ``[normal, confirmed_anomaly]``, so a lookup is O(1) whatever the memory size.

The gate turns a calibrated score into a gated one:

- a pattern seen often in normal footage (or confirmed normal by the Decider) suppresses the
  score by up to ``suppress`` (half, by default);
- a pattern confirmed anomalous before boosts it toward 1 by up to ``boost``.

:meth:`EngramMemory.update` is how verdicts feed back: the agents call it with the key of an
event's windows and ``"normal"`` or ``"anomaly"``.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

Verdict = Literal["normal", "anomaly"]
PAD = -1  # token before the first window of a source


class EngramMemory:
    """Codebook, n-gram counts and the gate (see the module docstring).

    Args:
        codebook: ``(K, D)`` token centroids in the scaled vector space.
        scale: ``(D,)`` divisor applied to clip vectors before quantising.
        n: n-gram length.
        counts: key -> ``[normal, anomaly]``.
        suppress: largest fraction a familiar normal pattern removes from the score.
        boost: largest fraction of the remaining distance to 1 a confirmed anomaly adds.
        min_count: normal occurrences needed before a pattern counts as familiar.
    """

    def __init__(
        self,
        codebook: np.ndarray,
        scale: np.ndarray,
        n: int = 3,
        counts: dict[int, list[int]] | None = None,
        suppress: float = 0.5,
        boost: float = 0.5,
        min_count: int = 3,
    ) -> None:
        if not 1 <= n <= 8:
            raise ValueError(f"n must be in [1, 8], got {n}")
        self.codebook = np.asarray(codebook, np.float32)
        self.scale = np.asarray(scale, np.float32)
        self.n = int(n)
        self.counts: dict[int, list[int]] = counts if counts is not None else {}
        self.suppress = float(suppress)
        self.boost = float(boost)
        self.min_count = int(min_count)
        self._csq = (self.codebook**2).sum(axis=1)

    # ------------------------------------------------------------------ building
    @classmethod
    def fit(
        cls, sequences: Sequence[np.ndarray], scale: np.ndarray, k: int = 64, n: int = 3, seed: int = 0, **gate: Any
    ) -> EngramMemory:
        """Learn the codebook from normal clip vectors and count their n-grams as normal.

        Args:
            sequences: per video, ``(N_i, D)`` clip vectors in time order.
            scale: ``(D,)`` divisor for the vectors.
            k: codebook size (capped by the number of distinct vectors).
        """
        from sklearn.cluster import KMeans

        data = np.concatenate([np.asarray(s, np.float32) for s in sequences]) / scale
        k = max(1, min(int(k), len(np.unique(data.round(4), axis=0))))
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(data)
        memory = cls(km.cluster_centers_.astype(np.float32), scale, n=n, **gate)
        for seq in sequences:
            stream = memory.stream()
            for vector in seq:
                memory.update(stream.push(vector), "normal")
        return memory

    # ------------------------------------------------------------------ lookups
    def token(self, vector: np.ndarray) -> int:
        """The codebook token of one clip vector."""
        v = np.asarray(vector, np.float32) / self.scale
        return int(np.argmin(self._csq - 2.0 * self.codebook @ v))

    def key(self, tokens: Sequence[int]) -> int:
        """Stable 64-bit hash of an n-gram of tokens."""
        raw = np.asarray(tokens, dtype=np.int32).tobytes()
        return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little", signed=True)

    def lookup(self, key: int) -> tuple[int, int]:
        """``(normal, anomaly)`` counts of an n-gram key."""
        c = self.counts.get(key)
        return (c[0], c[1]) if c else (0, 0)

    def gate(self, score: float, key: int) -> float:
        """The score after the memory has had its say."""
        normal, anomaly = self.lookup(key)
        gated = float(score)
        if anomaly > 0:
            gated += self.boost * (1.0 - gated) * anomaly / (anomaly + 1.0)
        elif normal >= self.min_count:
            gated *= 1.0 - self.suppress * normal / (normal + self.min_count)
        return min(1.0, max(0.0, gated))

    def update(self, key: int, verdict: Verdict, weight: int = 1) -> None:
        """Record that the pattern ``key`` was judged ``normal`` or ``anomaly``."""
        if verdict not in ("normal", "anomaly"):
            raise ValueError(f"verdict must be 'normal' or 'anomaly', got {verdict!r}")
        entry = self.counts.setdefault(key, [0, 0])
        entry[0 if verdict == "normal" else 1] += int(weight)

    def stream(self) -> EngramStream:
        """Per-source state: feeds vectors in, yields n-gram keys."""
        return EngramStream(self)

    # ------------------------------------------------------------------ persistence
    def settings(self) -> dict[str, Any]:
        """JSON-able settings."""
        return {"n": self.n, "suppress": self.suppress, "boost": self.boost, "min_count": self.min_count}

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to save (counts as parallel key / count arrays)."""
        keys = np.array(list(self.counts), dtype=np.int64)
        vals = np.array([self.counts[k] for k in self.counts], dtype=np.int64).reshape(-1, 2)
        return {"codebook": self.codebook, "scale": self.scale, "keys": keys, "counts": vals}

    @classmethod
    def restore(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> EngramMemory:
        """Rebuild from :meth:`settings` and :meth:`arrays`."""
        counts = {int(k): [int(a), int(b)] for k, (a, b) in zip(arrays["keys"], arrays["counts"])}
        return cls(arrays["codebook"], arrays["scale"], counts=counts, **settings)


class EngramStream:
    """The last ``n`` tokens of one source."""

    def __init__(self, memory: EngramMemory) -> None:
        self.memory = memory
        self.tokens: deque[int] = deque([PAD] * memory.n, maxlen=memory.n)

    def push(self, vector: np.ndarray) -> int:
        """Add a window's vector; return the key of the n-gram ending with it."""
        self.tokens.append(self.memory.token(vector))
        return self.memory.key(list(self.tokens))
