"""Data engine: synthetic surveillance scenes with ground truth, and HIVAU-style instruction data."""
