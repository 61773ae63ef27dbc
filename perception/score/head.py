"""An optional, lightweight anomaly-type head trained on labelled windows.

When a camera is fitted with ``--labels gt.json``, the windows of the labelled videos are
embedded and labelled with the type of the event covering most of them (``normal`` when none
does). A multinomial logistic regression on the scaled clip vector and the most unusual cell's
features then gives type probabilities; a type is *known* when its probability reaches the
camera's ``confidence_threshold`` (0.8 by default) and *unknown* otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NORMAL = "normal"


class TypeHead:
    """Multinomial logistic regression over window features.

    Args:
        classes: class names, ``normal`` included.
        coef: ``(n_classes, D)`` weights; intercept: ``(n_classes,)``.
        mean, std: feature standardisation.
    """

    def __init__(self, classes: list[str], coef: np.ndarray, intercept: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
        self.classes = list(classes)
        self.coef = np.asarray(coef, np.float64)
        self.intercept = np.asarray(intercept, np.float64)
        self.mean = np.asarray(mean, np.float64)
        self.std = np.asarray(std, np.float64)

    @staticmethod
    def features(vector: np.ndarray, cells: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
        """What the head looks at: the clip vector and the most unusual cell's vector."""
        return np.concatenate([np.asarray(vector, np.float64), np.asarray(cells[cell], np.float64)])

    @classmethod
    def fit(cls, x: np.ndarray, labels: list[str], seed: int = 0) -> TypeHead:
        """Train on ``(N, D)`` features and their labels (at least two classes)."""
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(x, np.float64)
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"the type head needs at least two classes in the labels, got {classes}")
        mean = x.mean(axis=0)
        std = x.std(axis=0) + 1e-6
        model = LogisticRegression(max_iter=3000, class_weight="balanced", random_state=seed)
        model.fit((x - mean) / std, labels)
        coef, intercept = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # sklearn keeps one row for binary problems
            coef = np.vstack([-coef[0], coef[0]])
            intercept = np.array([-intercept[0], intercept[0]])
        return cls(list(model.classes_), coef, intercept, mean, std)

    def probabilities(self, features: np.ndarray) -> dict[str, float]:
        """Class probabilities for one window's features."""
        z = self.coef @ ((np.asarray(features, np.float64) - self.mean) / self.std) + self.intercept
        z -= z.max()
        p = np.exp(z)
        p /= p.sum()
        return {c: float(v) for c, v in zip(self.classes, p)}

    def settings(self) -> dict[str, Any]:
        """JSON-able settings."""
        return {"classes": self.classes}

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to save."""
        return {"coef": self.coef, "intercept": self.intercept, "mean": self.mean, "std": self.std}

    @classmethod
    def restore(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> TypeHead:
        """Rebuild from :meth:`settings` and :meth:`arrays`."""
        return cls(settings["classes"], arrays["coef"], arrays["intercept"], arrays["mean"], arrays["std"])


def known_type(probabilities: dict[str, float], threshold: float) -> tuple[str | None, float]:
    """The most likely anomaly type and its probability, or ``None`` below ``threshold``.

    ``normal`` is never returned as a type; its probability mass simply lowers the others.
    """
    kinds = {k: v for k, v in probabilities.items() if k != NORMAL}
    if not kinds:
        return None, 0.0
    kind, p = max(kinds.items(), key=lambda kv: kv[1])
    return (kind if p >= threshold else None), p
