"""Peak resident memory of every process of the run, sampled in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil


def _vm_hwm_mb(pid: int) -> float | None:
    """The kernel's own peak RSS of a live process (VmHWM), in MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler:
    """``track(name, pid_fn)``: the peak RSS of that process and its children, the
    largest single process counted (a postgres backend shares shared_buffers)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._targets: dict[str, Callable[[], int | None]] = {}
        self.peak_mb: dict[str, float] = {}
        self.peak_sum_mb: dict[str, float] = {}
        self.processes: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss")

    def track(self, name: str, pid: Callable[[], int | None]) -> None:
        self._targets[name] = pid

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def current_mb(self) -> dict[str, float]:
        """RSS now of each tracked process (its largest process), e.g. after many events."""
        out = {}
        for name, pid_fn in list(self._targets.items()):
            pid = pid_fn()
            if pid is None:
                continue
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
                out[name] = round(max(p.memory_info().rss for p in procs) / 2**20, 1)
            except psutil.Error:
                continue
        return out

    def sample(self) -> None:
        for name, pid_fn in list(self._targets.items()):
            pid = pid_fn()
            if pid is None:
                continue
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            sizes = []
            for p in procs:
                try:
                    sizes.append(p.memory_info().rss / 2**20)
                except psutil.Error:
                    continue
            hwm = _vm_hwm_mb(pid) or 0.0
            if sizes:
                self.peak_mb[name] = round(max(self.peak_mb.get(name, 0.0), hwm, *sizes), 1)
                self.peak_sum_mb[name] = round(max(self.peak_sum_mb.get(name, 0.0), sum(sizes)), 1)
                self.processes[name] = max(self.processes.get(name, 0), len(sizes))
