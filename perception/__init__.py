"""Perception: the fast path that sees every frame, as folders in the order data flows.

``source`` (frames and windows) -> ``encoders`` (window embeddings) -> ``detect`` (objects) ->
``track`` (tracks, object normality, scene facts, zones) -> ``score`` (calibrated scores, Engram
gate, tripwires) -> ``events`` (candidate events); ``pipeline`` runs them per camera (the
``Scanner``), ``profile`` and ``fitting`` learn a camera's normal footage, ``sampler`` picks the
frames a VLM sees. Training code sits apart: ``learned``, ``fgclip``, ``vlm`` and
``scorer_training``. Imports only the foundations in ``vigil.core``.
"""
