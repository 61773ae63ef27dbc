"""Scores: distance to the camera's normal windows, calibrated (``scoring``), the Engram gate
(``engram``), the optional type head (``head``), tripwires (``tripwires``) and the learned frame
scorers' interface and registry (``frame_scorer``)."""
