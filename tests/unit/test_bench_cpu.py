"""How the bench reads a process tree's CPU (bench/cpu.py) when children exit during the
read: on a scripted tree (no processes), and on a real parent whose children end."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import psutil

from bench.cpu import CpuMeter, process_tree_cpu


class Times(NamedTuple):
    user: float
    system: float
    children_user: float
    children_system: float


class Child:
    def __init__(self, cpu: float) -> None:
        self.cpu = cpu

    def cpu_times(self) -> Times:
        return Times(self.cpu, 0.0, 0.0, 0.0)


class ScriptedRoot:
    """A root whose reads follow a script: each ``cpu_times`` and ``children`` call takes
    the next answer, as a real tree's would while a child is reaped between two calls."""

    def __init__(self, times: list[float], children: list[list[Child]]) -> None:
        self._times: Iterator[float] = iter(times)
        self._children: Iterator[list[Child]] = iter(children)

    def cpu_times(self) -> Times:
        return Times(1.0, 0.0, next(self._times), 0.0)

    def children(self, recursive: bool = False) -> list[Child]:
        return next(self._children)


def test_a_child_reaped_between_the_roots_times_and_the_listing_still_counts() -> None:
    # Self 1.0 s; a live child of 2.0 s; a child of 3.0 s that ends and is reaped just
    # after the root's times are read: the first listing no longer has it, and the
    # reaped time read before the listing does not have it yet.
    live = Child(2.0)
    root: Any = ScriptedRoot(times=[0.0, 3.0, 3.0, 3.0], children=[[live], [live]])
    assert process_tree_cpu(root) == 1.0 + 2.0 + 3.0


def test_a_quiet_tree_is_read_once() -> None:
    root: Any = ScriptedRoot(times=[4.0, 4.0], children=[[Child(2.0)]])
    assert process_tree_cpu(root) == 1.0 + 4.0 + 2.0  # a second read would exhaust the script


def _burn(seconds: float) -> str:
    return f"import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass"


def test_children_that_end_between_two_snapshots_count_without_a_dip() -> None:
    """The same reads on real processes: a parent runs four children of ~0.1 s CPU each
    and reaps them while the tree is read as often as it can be. What they spent is in
    the difference, and no read is below the one before it (the meter clamps a negative
    difference to 0, which is how the bug showed). The race itself is rare on a quiet
    machine; the scripted tree above is what pins it."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "time.sleep(0.3)\n"
            f"kids = [subprocess.Popen([sys.executable, '-c', {_burn(0.1)!r}]) for _ in range(4)]\n"
            "[k.wait() for k in kids]\n"
            "time.sleep(30)\n",
        ]
    )
    try:
        meter = CpuMeter()
        meter.track("tree", lambda: parent.pid)
        before = meter.snapshot()
        proc = psutil.Process(parent.pid)
        samples = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            samples.append(meter.snapshot()["tree"])
            reaped = proc.cpu_times()
            if not proc.children() and reaped.children_user + reaped.children_system >= 0.35:
                break
            time.sleep(0.005)
        after = meter.snapshot()
        assert after["tree"] - before["tree"] >= 0.35
        # Read as often as possible while the children ended: never a dip.
        assert all(b >= a - 0.02 for a, b in zip(samples, samples[1:], strict=False))
    finally:
        parent.kill()
        parent.wait()
