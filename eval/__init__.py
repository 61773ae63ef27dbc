"""Evaluation: VAD metrics (AUC/AP), and later sampler, ask and caption metrics and benchmarks."""
