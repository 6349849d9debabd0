"""Benchmarks (``scripts/bench``): one module per row, HOPE against a baseline in the same run."""
