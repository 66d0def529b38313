"""A statement PostgreSQL does not answer in time lets go of its connection (ADR 0719):
against a server that is alive the cancel is acknowledged and the connection is used
on; against one that hangs the error comes after the statement's timeout and the wait
for the acknowledgement, not after the timeout twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from infra.local.stack import EmbeddedStack
from server.adapters.postgres.pool import CANCEL_ACK_SECONDS, create_pool
from tests.support.links import HangingLink, database_url_through, port_of

TIMEOUT = 1.0  # these pools' statement timeout: short, so that the test is quick


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


async def _through_a_link_that_hangs(
    stack: EmbeddedStack, unanswered: Callable[[asyncpg.Pool], Awaitable[object]]
) -> float:
    """Seconds until ``unanswered`` fails with the statement's timeout while the link to
    PostgreSQL passes nothing; then the link passes again and the pool must serve."""
    link = HangingLink(port_of(stack.admin_database_url))
    url = database_url_through(stack.admin_database_url, await link.start())
    pool = await create_pool(url, min_size=1, max_size=1, command_timeout=TIMEOUT)
    try:
        link.flowing.clear()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await unanswered(pool)
        took = time.monotonic() - started
        link.flowing.set()
        assert await pool.fetchval("SELECT 2") == 2  # on a new connection
        return took
    finally:
        link.flowing.set()
        await pool.close()
        link.close()


async def test_a_transaction_on_a_server_that_hangs_fails_after_one_timeout(
    stack: EmbeddedStack,
) -> None:
    """The statement's timeout, then the rollback waits for a cancel that nothing
    acknowledges: asyncpg alone waits the timeout again (2 s here)."""

    async def in_a_transaction(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1")

    took = await _through_a_link_that_hangs(stack, in_a_transaction)
    assert took < TIMEOUT + CANCEL_ACK_SECONDS + 0.4, took


async def test_a_read_on_a_server_that_hangs_gives_its_connection_back_after_one_timeout(
    stack: EmbeddedStack,
) -> None:
    """No transaction: the release is what waited for the cancel."""
    took = await _through_a_link_that_hangs(stack, lambda pool: pool.fetchval("SELECT 1"))
    assert took < TIMEOUT + CANCEL_ACK_SECONDS + 0.4, took
