"""A statement PostgreSQL does not answer in time lets go of its connection (ADR 0719):
against a server that is alive the cancel is acknowledged and the connection is used
on; against one that hangs the error comes after the statement's timeout and the wait
for the acknowledgement, not after the timeout twice, and it is one that callers take
for a broken connection and the API for a statement that got no answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from infra.local.stack import EmbeddedStack
from server.adapters.postgres.pool import CANCEL_ACK_SECONDS, create_pool
from server.adapters.postgres.retry import is_broken_connection
from server.api.errors import unanswered as unanswered_in_time
from tests.support.links import HangingLink, database_url_through, port_of

TIMEOUT = 1.0  # these pools' statement timeout: short, so that the test is quick
# The statement's timeout, the wait for the cancel's acknowledgement, and a margin.
ONE_TIMEOUT = TIMEOUT + CANCEL_ACK_SECONDS + 0.4


async def test_a_cancel_the_server_acknowledges_keeps_the_connection(stack: EmbeddedStack) -> None:
    pool = await create_pool(
        stack.admin_database_url, min_size=1, max_size=1, command_timeout=TIMEOUT
    )
    try:
        async with pool.acquire() as conn:
            pid = conn.get_server_pid()
            with pytest.raises(TimeoutError):
                await conn.execute("SELECT pg_sleep(30)")
            # Past the wait for the acknowledgement: still open, and it answers.
            await asyncio.sleep(CANCEL_ACK_SECONDS + 0.3)
            assert not conn.is_closed()
            assert await conn.fetchval("SELECT 1") == 1
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == pid  # the same backend: no reconnect
    finally:
        await pool.close()


@asynccontextmanager
async def _behind_a_link(stack: EmbeddedStack) -> AsyncIterator[tuple[asyncpg.Pool, HangingLink]]:
    """A pool whose connections pass through a link the test can stop; once the test is
    done the link passes again and the pool must serve (on a new connection)."""
    link = HangingLink(port_of(stack.admin_database_url))
    url = database_url_through(stack.admin_database_url, await link.start())
    pool = await create_pool(url, min_size=1, max_size=1, command_timeout=TIMEOUT)
    try:
        yield pool, link
        link.flowing.set()
        assert await pool.fetchval("SELECT 2") == 2
    finally:
        link.flowing.set()
        await pool.close()
        link.close()


async def _a_transaction_that_hangs(
    pool: asyncpg.Pool, link: HangingLink, busy_for: float = 0.0
) -> None:
    """BEGIN is answered, then the link passes nothing: the transaction's statement gets
    no answer; the loop is busy elsewhere for ``busy_for`` s before the rollback."""
    async with pool.acquire() as conn, conn.transaction():
        link.flowing.clear()
        try:
            await conn.execute("SELECT 1")
        except TimeoutError:
            await asyncio.sleep(busy_for)
            raise


def _taken_for_what_it_is(error: BaseException) -> None:
    assert is_broken_connection(error), repr(error)  # retried (scheduler, consumers)
    assert unanswered_in_time(error), repr(error)  # the API's 503 "may still take effect"


async def _fails_after_one_timeout(
    attempt: Awaitable[object],
    errors: type[BaseException] | tuple[type[BaseException], ...],
) -> None:
    """``attempt`` fails with one of ``errors`` within one timeout (and the wait for the
    cancel's acknowledgement), and the error is taken for what it is."""
    started = time.monotonic()
    with pytest.raises(errors) as failure:
        await attempt
    took = time.monotonic() - started
    assert took < ONE_TIMEOUT, took
    _taken_for_what_it_is(failure.value)


async def test_a_transaction_on_a_server_that_hangs_fails_after_one_timeout(
    stack: EmbeddedStack,
) -> None:
    """The statement's timeout, then the rollback waits for a cancel that nothing
    acknowledges: asyncpg alone waits the timeout again (2 s here)."""
    async with _behind_a_link(stack) as (pool, link):
        await _fails_after_one_timeout(
            _a_transaction_that_hangs(pool, link), (TimeoutError, asyncpg.InterfaceError)
        )


async def test_a_read_on_a_server_that_hangs_gives_its_connection_back_after_one_timeout(
    stack: EmbeddedStack,
) -> None:
    """No transaction: the release is what waited for the cancel."""
    async with _behind_a_link(stack) as (pool, link):
        link.flowing.clear()
        await _fails_after_one_timeout(pool.fetchval("SELECT 1"), TimeoutError)


async def test_a_rollback_after_the_connection_was_let_go_fails_as_a_closed_connection(
    stack: EmbeddedStack,
) -> None:
    """On a busy loop the connection can close before the transaction's rollback starts:
    the rollback then fails as a closed connection (an ``InterfaceError``, the statement's
    ``TimeoutError`` its context). The scheduler counted only OSError and PostgresError
    as a failed tick, and exited on this one (seen under load in the full suite)."""
    async with _behind_a_link(stack) as (pool, link):
        with pytest.raises(asyncpg.InterfaceError) as failure:
            await _a_transaction_that_hangs(pool, link, busy_for=CANCEL_ACK_SECONDS + 0.2)
        assert "connection is closed" in str(failure.value), repr(failure.value)
        assert isinstance(failure.value.__context__, TimeoutError), repr(failure.value)
        _taken_for_what_it_is(failure.value)
