"""Perception: the fast path that sees every frame.

Video input and windowing today; encoders, scorers, the Engram memory, event building and the
ATS sampler build on them. Imports only the foundations in ``vigil``.
"""
