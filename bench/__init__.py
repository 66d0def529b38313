"""Benchmark suite: ``python -m bench`` (``./task bench``).

Starts its own isolated embedded stack, drives every scenario from a separate
load process over loopback HTTP, runs the baselines on the same PostgreSQL, and
writes bench/results/latest.{json,md,png}.
"""
