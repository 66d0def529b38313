"""Our pools release a connection without asyncpg's reset query (ADR 0204), and what
that query would have cleaned up is never left behind by the code that uses them."""

from __future__ import annotations

import asyncpg

from infra.local.stack import EmbeddedStack
from server.adapters.postgres.pool import create_pool


async def _queries_over_two_acquires(pool: asyncpg.Pool) -> list[str]:
    seen: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: seen.append(record.query))
        pid = conn.get_server_pid()
        await conn.fetchval("SELECT 1")
    async with pool.acquire() as conn:
        assert conn.get_server_pid() == pid  # the same connection, kept
        await conn.fetchval("SELECT 2")
    return seen


async def test_asyncpg_default_pool_sends_a_reset_query_on_release(stack: EmbeddedStack) -> None:
    """What the saving is, and that the logger above would see it."""
    pool = await asyncpg.create_pool(stack.admin_database_url, min_size=1, max_size=1)
    try:
        seen = await _queries_over_two_acquires(pool)
        assert any("RESET ALL" in q for q in seen), seen
    finally:
        await pool.close()


async def test_release_sends_no_reset_query(stack: EmbeddedStack) -> None:
    pool = await create_pool(stack.admin_database_url, min_size=1, max_size=1)
    try:
        seen = await _queries_over_two_acquires(pool)
        # Only our own statements went to the server: no RESET ALL / UNLISTEN / CLOSE ALL.
        assert seen == ["SELECT 1", "SELECT 2"], seen
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_still_rolled_back(stack: EmbeddedStack) -> None:
    pool = await create_pool(stack.admin_database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMP TABLE IF NOT EXISTS pool_probe (n int)")
            tx = conn.transaction()
            await tx.start()
            await conn.execute("INSERT INTO pool_probe VALUES (1)")
            # released without commit or rollback (e.g. a task cancelled mid-way)
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0
    finally:
        await pool.close()
