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


def tree_cpu(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                continue
        return total
    except psutil.Error:
        return 0.0


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
