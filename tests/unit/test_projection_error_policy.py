"""The consumers' error policy (server/adapters/postgres/retry.py) and the
projection worker's progress, without servers: a broken
connection is retried until it heals, any other error a bounded number of
times; progress, lag and failed partitions make the health document."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from runtime.consumer_progress import OK, STALLED, STARTING, Progress
from server.adapters.postgres.retry import BatchFailedError, RetryPolicy, is_broken_connection
from tests.support.clock import Clock


class Recorder:
    """Sleeps and connection drops, recorded instead of done."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.drops = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def drop_connections(self) -> None:
        self.drops += 1


def failing(
    errors: list[BaseException], result: str = "applied"
) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return attempt, calls


def test_the_asyncpg_state_error_after_a_server_restart_is_a_broken_connection() -> None:
    state = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress"
    )
    assert is_broken_connection(state)
    assert is_broken_connection(ConnectionResetError())
    assert is_broken_connection(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert is_broken_connection(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    assert not is_broken_connection(asyncpg.exceptions.CheckViolationError("bad row"))
    assert not is_broken_connection(asyncpg.exceptions.SerializationError("retry me"))


def test_a_broken_connection_is_retried_on_new_connections_until_it_heals() -> None:
    rec = Recorder()
    policy = RetryPolicy(rec.drop_connections, attempts=3, sleep=rec.sleep, max_delay=2.0)
    broken = [ConnectionRefusedError()] * 10 + [
        asyncpg.exceptions.InternalClientError("cannot switch to state 15")
    ]
    attempt, calls = failing(list(broken))
    assert asyncio.run(policy.run(attempt)) == "applied"
    assert len(calls) == 12  # far past the 3 attempts: connections do not count
    assert rec.drops == 11  # each time the pool is told to reconnect
    assert rec.sleeps[:6] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
    assert max(rec.sleeps) == 2.0  # backoff is capped


def test_another_error_is_retried_with_backoff_a_bounded_number_of_times() -> None:
    rec = Recorder()
    policy = RetryPolicy(rec.drop_connections, attempts=4, sleep=rec.sleep)
    poison = asyncpg.exceptions.CheckViolationError("new row violates check constraint")
    attempt, calls = failing([poison] * 100)
    with pytest.raises(BatchFailedError) as failed:
        asyncio.run(policy.run(attempt))
    assert len(calls) == 4
    assert rec.sleeps == [0.05, 0.1, 0.2]
    assert rec.drops == 0
    assert failed.value.last is poison
    assert "failed 4 times" in str(failed.value)


def test_a_transient_error_that_clears_within_the_bound_applies_the_batch() -> None:
    rec = Recorder()
    policy = RetryPolicy(rec.drop_connections, attempts=3, sleep=rec.sleep)
    attempt, calls = failing([asyncpg.exceptions.DeadlockDetectedError("deadlock")] * 2)
    assert asyncio.run(policy.run(attempt)) == "applied"
    assert len(calls) == 3


def test_without_a_bound_every_error_is_retried_and_each_retry_is_counted() -> None:
    """The notification consumer's use: no error skips a batch of notifications."""
    rec = Recorder()
    kinds: list[str] = []
    policy = RetryPolicy(
        rec.drop_connections, attempts=None, sleep=rec.sleep, on_retry=kinds.append
    )
    poison = asyncpg.exceptions.CheckViolationError("new row violates check constraint")
    attempt, calls = failing([poison] * 20 + [ConnectionResetError()])
    assert asyncio.run(policy.run(attempt)) == "applied"
    assert len(calls) == 22
    assert kinds == ["error"] * 20 + ["connection"]
    assert rec.drops == 1


def test_a_worker_starts_then_is_ok_while_it_commits_batches() -> None:
    clock = Clock()
    progress = Progress("projections", stall_seconds=30, clock=clock)
    assert progress.status() == STARTING
    clock.now += 10
    progress.record_started()
    progress.record_lag({("account-events", 0): 5})
    clock.now += 20
    progress.record_batch_started()
    progress.record_batch_done()
    assert progress.status() == OK
    assert progress.age() == 0


def test_a_worker_that_never_gets_going_is_stalled_after_the_threshold() -> None:
    clock = Clock()
    progress = Progress("projections", stall_seconds=30, clock=clock)
    clock.now += 31
    assert progress.status() == STALLED


def test_idle_with_nothing_to_do_is_progress() -> None:
    clock = Clock()
    progress = Progress("projections", stall_seconds=30, clock=clock)
    progress.record_started()
    clock.now += 600
    progress.record_lag({("account-events", 0): 0, ("transaction-events", 3): 0})
    assert (progress.status(), progress.age()) == (OK, 0)


def test_a_loop_that_stops_coming_round_is_stalled_even_after_an_idle_look() -> None:
    clock = Clock()
    progress = Progress("projections", stall_seconds=30, clock=clock)
    progress.record_started()
    progress.record_lag({("account-events", 0): 0})  # idle, at the end
    clock.now += 31  # and no round since: stuck in a fetch, a rebalance, a call
    assert progress.status() == STALLED
    progress.record_lag({("account-events", 0): 0})  # it comes round again
    assert progress.status() == OK


def test_records_waiting_with_no_batch_committed_for_too_long_is_stalled() -> None:
    clock = Clock()
    progress = Progress("projections", stall_seconds=30, clock=clock)
    progress.record_started()
    progress.record_lag({("account-events", 2): 7})
    clock.now += 29
    assert progress.status() == OK
    clock.now += 2
    progress.record_lag({("account-events", 2): 9})
    health = progress.health()
    assert health["status"] == STALLED
    assert health["last_progress_age_seconds"] == 31
    assert health["lag"] == {"account-events": {"2": 9}}


def test_a_batch_retried_for_too_long_is_stalled_even_without_lag() -> None:
    clock = Clock()
    progress = Progress("projections", stall_seconds=30, clock=clock)
    progress.record_started()
    progress.record_lag({})
    progress.record_batch_started()
    clock.now += 31
    progress.record_lag({})  # busy: being idle does not count
    assert progress.status() == STALLED


def test_a_failed_partition_is_reported_without_stalling_the_others() -> None:
    clock = Clock()
    progress = Progress("projections", stall_seconds=30, clock=clock)
    progress.record_started()
    progress.record_failed(("account-events", 5), "CheckViolationError: bad row")
    clock.now += 300
    progress.record_lag({("account-events", 5): 12, ("account-events", 1): 0})
    health = progress.health()
    assert health["status"] == OK
    assert health["failed_partitions"] == ["account-events[5]"]
    assert health["failures"] == {"account-events[5]": "CheckViolationError: bad row"}
    assert health["lag"] == {"account-events": {"1": 0, "5": 12}}
    assert health["process"] == "projections" and health["stall_threshold_seconds"] == 30

    progress.forget([("account-events", 5)])  # revoked: another worker's now
    assert progress.health()["failed_partitions"] == []
