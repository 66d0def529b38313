"""How soon the supervisor restarts a process that exited (real child processes, no
servers): at once after a first crash, with backoff only for one that keeps exiting."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.stack import EmbeddedStack
from infra.local.supervisor import BACKOFF_START, Supervisor


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[EmbeddedStack]:
    s = EmbeddedStack(tmp_path)  # no servers started: only the process table is used
    s.spawn("sleeper", ["-c", "import time; time.sleep(60)"], wait=False)
    try:
        yield s
    finally:
        for proc in s.processes.values():
            proc.stop(timeout=2.0)


def _exited(stack: EmbeddedStack, name: str) -> None:
    proc = stack.processes[name]
    proc.kill(signal.SIGKILL)
    assert not proc.alive


def test_a_killed_process_is_restarted_at_the_next_pass_then_with_backoff(
    stack: EmbeddedStack,
) -> None:
    said: list[str] = []
    sup = Supervisor(stack, say=said.append, watch_postgres=False, watch_progress=())
    proc = stack.processes["sleeper"]
    t = time.monotonic()
    sup.tick(t)  # sees the process running
    first = proc.pid

    _exited(stack, "sleeper")
    sup.tick(t + 0.25)  # one pass later: restarted, no waiting
    assert proc.alive and proc.pid != first, said
    assert [r.reason for r in sup.restarts_of("sleeper")] == ["exited with code -9"]

    second = proc.pid
    _exited(stack, "sleeper")  # again, seconds later: now it waits
    sup.tick(t + 0.5)
    assert not proc.alive, "a process that keeps exiting is restarted with backoff"
    sup.tick(t + 0.5 + BACKOFF_START - 0.01)
    assert not proc.alive
    sup.tick(t + 0.5 + BACKOFF_START)
    assert proc.alive and proc.pid != second, said


def test_a_process_that_ran_a_minute_is_restarted_at_once_again(stack: EmbeddedStack) -> None:
    sup = Supervisor(stack, say=lambda _: None, watch_postgres=False, watch_progress=())
    proc = stack.processes["sleeper"]
    t = time.monotonic()
    sup.tick(t)
    _exited(stack, "sleeper")
    sup.tick(t + 0.25)
    assert proc.alive
    _exited(stack, "sleeper")  # after more than a minute of good health
    sup.tick(t + 61.0)
    assert proc.alive, "the backoff starts over after a minute of good health"
