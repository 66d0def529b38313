"""bench.syscalls: counters read from /proc, divided by the commands served."""

from __future__ import annotations

import os
import sys

import pytest

from bench.syscalls import COUNTERS, per_command, tree_counters


def _counters(**values: float) -> dict[str, float]:
    return {k: values.get(k, 0.0) for k in COUNTERS}


def test_each_process_is_divided_by_the_commands_served() -> None:
    before = {"api": _counters(cpu_us=1_000, reads=10, writes=20), "cdc": _counters()}
    after = {
        "api": _counters(cpu_us=4_000, reads=40, writes=65, voluntary_switches=3),
        "cdc": _counters(cpu_us=500, involuntary_switches=1),
        "redis": _counters(reads=7),  # not read before the run: left out
    }
    assert per_command(before, after, 10) == {
        "api": _counters(cpu_us=300, reads=3, writes=4.5, voluntary_switches=0.3),
        "cdc": _counters(cpu_us=50, involuntary_switches=0.1),
    }
    assert per_command(before, after, 0) == {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/PID/io is Linux's")
def test_a_processs_own_reads_and_writes_are_counted() -> None:
    before = tree_counters(os.getpid())
    fd = os.open(os.devnull, os.O_RDWR)
    try:
        for _ in range(50):
            os.write(fd, b"x")
            os.read(fd, 1)
    finally:
        os.close(fd)
    after = tree_counters(os.getpid())
    assert after["writes"] - before["writes"] >= 50
    assert after["reads"] - before["reads"] >= 50
    assert after["cpu_us"] >= before["cpu_us"]
