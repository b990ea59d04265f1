"""Benchmarks: they write figures to bench/results/, they assert nothing about time."""
