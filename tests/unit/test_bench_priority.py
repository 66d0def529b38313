"""bench/priority.py lowers the read side's priority where the scheduler reads it: the
nice of the process's scheduling group (its session) and of every thread (ADR 0328)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.priority import group_nice, lower_read_side

_TWO_THREADS = (
    "import threading, time; threading.Thread(target=time.sleep, args=(30,)).start(); "
    "time.sleep(30)"
)


def _threads(pid: int) -> list[int]:
    return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]


def test_the_read_side_gets_the_nice_of_its_group_and_of_each_thread() -> None:
    # A session of its own, as infra/local starts every process of the stack.
    child = subprocess.Popen([sys.executable, "-c", _TWO_THREADS], start_new_session=True)
    own_group, own_nice = group_nice(os.getpid()), os.getpriority(os.PRIO_PROCESS, 0)
    try:
        deadline = time.monotonic() + 10
        while len(_threads(child.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(_threads(child.pid)) == 2

        done = lower_read_side({"api": os.getpid(), "cdc": child.pid}, 7)

        assert done == ["cdc"]
        assert [os.getpriority(os.PRIO_PROCESS, t) for t in _threads(child.pid)] == [7, 7]
        if own_group is not None:  # a kernel with autogroups: the group is what counts
            assert group_nice(child.pid) == 7
        # The write side (here: this process) keeps its group's and its own nice.
        assert group_nice(os.getpid()) == own_group
        assert os.getpriority(os.PRIO_PROCESS, 0) == own_nice
    finally:
        child.kill()
        child.wait()
