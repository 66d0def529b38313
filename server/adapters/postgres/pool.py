"""The PostgreSQL pools of our processes: asyncpg's, without the reset query on release.

asyncpg resets a connection every time it goes back to the pool with one more
round trip (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;``).
None of our pooled code keeps session state: no ``SET`` (settings go in
``server_settings`` at connect, which ``RESET ALL`` would keep anyway), no
``LISTEN``, no session advisory locks (migrations take theirs on a connection of
their own), no cursors held past a transaction. So the pools release without that
query (docs/adr/0204-pool-release-without-reset.md). asyncpg still rolls back a
transaction left open (the connection's own ``_reset``, a round trip only then).

A new user of a pool that does keep session state must undo it itself, or take a
connection of its own (``asyncpg.connect``).

The API's pool also bounds the wait for a connection (``acquire_timeout``): asyncpg
waits without end by default, so while PostgreSQL hangs every request beyond the
pool's size queued behind the ones holding a connection, each of those waiting a
statement's timeout and the rollback's, and the last customer in the queue waited
minutes for a 503 (docs/adr/0717-a-wait-for-a-database-connection-is-bounded.md).

Every pool's connections let go of a statement PostgreSQL does not answer: asyncpg
sends a cancel for a statement that timed out (or whose task was cancelled), and the
next statement on the connection (a transaction's rollback, or the release) waits for
the server to acknowledge it, as long again as the statement's timeout. A server that
hangs acknowledges nothing, so a request waited twice the timeout for its 503. Our
connections wait ``CANCEL_ACK_SECONDS`` for the acknowledgement and then close
(docs/adr/0719-an-unanswered-statement-lets-go-of-its-connection.md).
"""

from __future__ import annotations

from typing import Any

import asyncpg

# How long opening a connection may take before it is an error (a 503 in the API).
CONNECT_TIMEOUT_SECONDS = 5.0
# How long one statement may wait for PostgreSQL's answer before it is an error (a 503
# in the API, a failed tick in the scheduler, tried again): a server that hangs, or a
# network that holds its packets or lost the server (a failover), refuses and resets
# nothing, and a caller would wait for it without end. A request then waits this and
# CANCEL_ACK_SECONDS (4.5 s measured, under the app's 10 s in client/api.py). Far above any
# statement of ours: the batch scenario at saturation, requests of 8,190 transfers taking
# 2.4-2.6 s, had no failure with a 1 s timeout (docs/adr/0302). The pipeline processes
# set none: they are watched for progress and restarted (docs/adr/0700).
STATEMENT_TIMEOUT_SECONDS = 4.0
# How long an API request may wait for a pooled connection (connecting included) before
# it is a 503 that changed nothing. Healthy, a request waits microseconds for one (the
# group commit holds two at most); a queue this long means the database hangs or cannot
# keep up, and a client told to retry beats one left waiting past its own timeout
# (10 s in client/api.py: this wait plus a statement's two stays under it).
ACQUIRE_TIMEOUT_SECONDS = 2.0
# How long a connection waits for PostgreSQL to acknowledge the cancel of a statement
# before it is closed instead. A server that is alive acknowledges within milliseconds
# (it stops the statement at its next interrupt check), and the connection is used on;
# one that hangs never does, and the caller gets its error now rather than a statement
# timeout later. A connection closed for nothing costs a reconnect.
CANCEL_ACK_SECONDS = 0.5


class _CancelAwareConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that closes itself when a cancel it sent is not
    acknowledged within ``CANCEL_ACK_SECONDS``: closing completes the waits for the
    acknowledgement, so the statement after the cancelled one (a rollback) fails at
    once with the connection closed, and the pool opens a new one."""

    def _cancel_current_command(self, waiter: Any, cancel_waiter: Any = None) -> None:
        super()._cancel_current_command(waiter, cancel_waiter)
        if cancel_waiter is not None:
            self._loop.call_later(
                CANCEL_ACK_SECONDS, self._close_unless_acknowledged, cancel_waiter
            )

    def _close_unless_acknowledged(self, cancel_waiter: Any) -> None:
        if not cancel_waiter.done() and not self.is_closed():
            self.terminate()


class NoConnectionInTimeError(ConnectionError):
    """No pooled connection came free (or could be opened) within the pool's acquire
    timeout: nothing was sent to the database, so nothing was changed (a 503 that says
    so, not the "may still take effect" of a statement that got no answer)."""


class _BoundedWaitPool(asyncpg.Pool):  # type: ignore[misc]
    """An asyncpg pool whose ``acquire()`` gives up after ``acquire_timeout`` seconds
    unless the caller names its own timeout. Piccolo's queries (``engine.pool``) and
    ``pool.fetch`` and friends acquire through it too."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    async def _acquire(self, timeout: float | None) -> Any:
        if timeout is None and not self._queue.empty():
            # A connection is free: taken without waiting (a closed one is reopened
            # within the connect timeout), and without a timer's cost (12 µs of CPU
            # per acquire, measured: ADR 0717).
            return await super()._acquire(None)
        try:
            return await super()._acquire(self._acquire_timeout if timeout is None else timeout)
        except TimeoutError:
            pass
        # Raised outside the handler: no TimeoutError in its context, which would read
        # as a statement that got no answer (server/api/errors.py, ``unanswered``).
        raise NoConnectionInTimeError(
            f"no database connection came free within {self._acquire_timeout} s"
        )


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Nothing to reset: no pooled code leaves session state behind."""


async def create_pool(
    dsn: str, *, acquire_timeout: float | None = None, **kwargs: Any
) -> asyncpg.Pool:
    """``asyncpg.create_pool`` with the release reset left out; with ``acquire_timeout``,
    a wait for a connection that ends in ``NoConnectionInTimeError``."""
    kwargs.setdefault("connection_class", _CancelAwareConnection)
    if acquire_timeout is None:
        pool: asyncpg.Pool = await asyncpg.create_pool(dsn, reset=_no_session_reset, **kwargs)
        return pool
    # asyncpg.create_pool's own defaults (it cannot be given a pool class); the caller
    # names min_size and max_size.
    options: dict[str, Any] = {
        "max_queries": 50000,
        "max_inactive_connection_lifetime": 300.0,
        "loop": None,
        "record_class": asyncpg.Record,
    }
    options.update(kwargs)
    bounded = _BoundedWaitPool(
        dsn, reset=_no_session_reset, acquire_timeout=acquire_timeout, **options
    )
    await bounded  # opens min_size connections, as create_pool's await does
    return bounded
