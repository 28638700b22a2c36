"""Benchmarks: they print their figures, and `python -m bench.report` records them in docs/benchmarks.md."""
