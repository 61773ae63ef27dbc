"""Learned frame scorers: models trained per camera on its normal frames.

Where the default path scores windows by their distance to normal motion features, a frame
scorer is a small network that learns what the camera's normal frames look like and scores each
sampled frame by how badly it explains it:

- ``framepred``: a U-Net predicts each frame from the four before it; the score is the
  prediction's PSNR (low = anomalous), optionally started from a MAML meta-learned initialisation
  so a new camera adapts on few frames (:mod:`perception.learned.maml`).
- ``aedmae``: a self-distilled masked autoencoder; the score combines the teacher's
  reconstruction error, the teacher-student discrepancy and a classifier trained on pasted
  synthetic anomalies.

Both work on small greyscale frames (``size`` pixels on the long side) so they train on a CPU in
minutes. Their interface (:class:`~perception.score.frame_scorer.FrameScorer`), shared training loop
and registry are in :mod:`perception.score.frame_scorer`; this package is where every built-in scorer
registers: importing it registers ``framepred``, ``aedmae`` and the zero-shot ``fgclip``
(:mod:`perception.fgclip.scorer`). Fitting one onto a camera is
:mod:`perception.scorer_training`.
"""

from __future__ import annotations

# importing the scorers' modules registers them (each module's @register_scorer)
from perception.fgclip import scorer as _fgclip  # noqa: F401
from perception.learned import aedmae as _aedmae  # noqa: F401
from perception.learned import framepred as _framepred  # noqa: F401
from perception.score.frame_scorer import (
    FRAME_SCORERS,
    FrameScorer,
    ScorerConfig,
    ScoreStream,
    TrainProgress,
    TrainReport,
    register_scorer,
)

#: names of the registered frame scorers
frame_scorer_names = FRAME_SCORERS.names
#: the class registered as ``name``; raises ``ConfigError`` naming the known ones
frame_scorer_class = FRAME_SCORERS.get

__all__ = ["FRAME_SCORERS", "FrameScorer", "ScoreStream", "ScorerConfig", "TrainProgress", "TrainReport",
           "frame_scorer_class", "frame_scorer_names", "register_scorer"]
