"""Benchmarks of `expand` against what users would otherwise run (not part of the test suite)."""
