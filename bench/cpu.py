"""CPU time of every process of the run, to divide by the commands served.

A process's CPU is its own user + system time, plus that of its live descendants, plus
what its exited children already handed back to it (children_user/system): a
PostgreSQL backend that ended during the run still counts, through the postmaster.
"""

from __future__ import annotations

from collections.abc import Callable

import psutil

PidFn = Callable[[], int | None]


# The processes of the stack whose CPU (and RSS) every run reports, in the order of the
# report's columns; the load generator is measured apart.
MEASURED_PROCESSES = ("api", "postgres", "kafka", "cdc", "projections", "notifications", "redis")


# How many times ``process_tree_cpu`` reads a tree in all while children are reaped during
# its reads.
TREE_READS = 5


def tree_cpu(pid: int) -> float:
    try:
        return process_tree_cpu(psutil.Process(pid))
    except psutil.Error:
        return 0.0


def process_tree_cpu(root: psutil.Process) -> float:
    """User + system CPU of ``root``, of its live descendants, and of the children it
    reaped, read so that none is missed: a child reaped after the root's times were
    read but before the children were listed would be in neither (when a pool closes,
    a PostgreSQL tree lost the lifetime CPU of 32 backends that way until its next
    read). So the root's times are read before and after the children, and the whole
    read is made again while the children it reaped changed in between."""
    for _ in range(TREE_READS):
        before = root.cpu_times()
        live = 0.0
        for child in root.children(recursive=True):
            try:
                c = child.cpu_times()
            except psutil.Error:  # gone since the listing: the next read counts it
                continue
            live += c.user + c.system
        after = root.cpu_times()
        reaped = after.children_user + after.children_system
        if reaped == before.children_user + before.children_system:
            break
    return after.user + after.system + reaped + live


class CpuMeter:
    """``snapshot()`` before and after a run; ``per_op(before, after, ops)`` in µs."""

    def __init__(self) -> None:
        self.targets: dict[str, PidFn] = {}

    def track(self, name: str, pid: PidFn) -> None:
        self.targets[name] = pid

    def snapshot(self) -> dict[str, float]:
        out = {}
        for name, pid_fn in self.targets.items():
            pid = pid_fn()
            out[name] = tree_cpu(pid) if pid else 0.0
        return out

    @staticmethod
    def per_op(
        before: dict[str, float],
        after: dict[str, float],
        ops: int,
        extra: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """µs of CPU per operation for each process (and ``extra`` CPU seconds, e.g. the
        load generator's), with their sum under "total"."""
        if ops <= 0:
            return {}
        spent = {n: max(0.0, after.get(n, 0.0) - before.get(n, 0.0)) for n in after}
        spent.update(extra or {})
        out = {n: round(s / ops * 1e6, 1) for n, s in spent.items()}
        out["total"] = round(sum(spent.values()) / ops * 1e6, 1)
        return out
