"""Benchmarks (run against a running stack)."""
