"""Benchmarks: printed numbers, read by people (make bench, bench-policy, bench-e2e)."""
