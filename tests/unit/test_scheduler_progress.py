"""The scheduler's progress, as its GET /health and the supervisor read it: a tick done
is progress, the sleep between ticks is not a stall, and a tick that hangs or keeps
failing is "stalled" once the stall threshold plus the interval has passed (no servers)."""

from __future__ import annotations

from runtime.consumer_progress import OK, STALLED, STARTING
from server.scheduler.progress import PROCESS, TickProgress
from tests.support.clock import Clock

STALL, INTERVAL = 30.0, 10.0


def started(clock: Clock) -> TickProgress:
    progress = TickProgress(STALL, INTERVAL, clock)
    progress.record_started()
    return progress


def test_starting_until_connected_then_ok() -> None:
    clock = Clock()
    progress = TickProgress(STALL, INTERVAL, clock)
    assert progress.health()["status"] == STARTING
    progress.record_started()
    assert progress.health() == {
        "process": PROCESS,
        "status": OK,
        "last_progress_age_seconds": 0.0,
        "stall_threshold_seconds": STALL + INTERVAL,
        "interval_seconds": INTERVAL,
    }


def test_the_sleep_between_ticks_is_not_a_stall() -> None:
    clock = Clock()
    progress = started(clock)
    for _ in range(5):  # ticks of 2 s, each followed by the interval's sleep
        progress.record_tick_started()
        clock.now += 2.0
        progress.record_tick_done()
        clock.now += INTERVAL
        assert progress.health()["status"] == OK
    assert progress.health()["last_progress_age_seconds"] == INTERVAL


def test_a_tick_that_hangs_is_stalled_after_the_threshold_plus_the_interval() -> None:
    clock = Clock()
    progress = started(clock)
    progress.record_tick_started()
    progress.record_tick_done()
    clock.now += INTERVAL
    progress.record_tick_started()  # ... and it never comes back
    clock.now += STALL - 0.001
    assert progress.status() == OK
    clock.now += 0.002
    doc = progress.health()
    assert doc["status"] == STALLED and doc["last_progress_age_seconds"] > STALL + INTERVAL


def test_ticks_that_keep_failing_are_stalled_and_a_good_one_clears_it() -> None:
    clock = Clock()
    progress = started(clock)
    for _ in range(5):  # each tick fails (PostgreSQL refuses it): started, never done
        progress.record_tick_started()
        clock.now += 1.0 + INTERVAL
    assert progress.status() == STALLED
    progress.record_tick_started()
    progress.record_tick_done()
    assert progress.status() == OK


def test_a_long_tick_that_keeps_paying_is_not_stalled() -> None:
    clock = Clock()
    progress = started(clock)
    progress.record_tick_started()  # the first of a month: many payments fall due
    for _ in range(100):
        clock.now += 1.0
        progress.record_step()
    assert clock.now - 1000.0 > STALL + INTERVAL  # longer than the threshold all told
    assert progress.status() == OK
    clock.now += STALL + INTERVAL + 0.01  # ... then a payment hangs
    assert progress.status() == STALLED
