"""Drop and rebuild every read model from the event store, through the same
planning and writing code as the live worker, in one transaction. The tables
are locked EXCLUSIVE: queries keep reading the old rows until the commit, the
worker's next batch waits and then finds its events already applied. (DELETE,
not TRUNCATE: the application role has DML rights only.)"""

from __future__ import annotations

import logging

import asyncpg
from redis.exceptions import RedisError

from server.projections.projector import apply_events
from server.projections.store import iter_account_events
from server.readmodel.cache import QueryCache

log = logging.getLogger("bank.projections")


async def rebuild(conn: asyncpg.Connection, cache: QueryCache | None = None) -> int:
    """Returns the number of events replayed."""
    total = 0
    async with conn.transaction():
        await conn.execute(
            "LOCK TABLE account_view, transaction_view, analytics_view, hold_view IN EXCLUSIVE MODE"
        )
        await conn.execute(
            "DELETE FROM transaction_view; DELETE FROM analytics_view; DELETE FROM hold_view;"
            " DELETE FROM account_view"
        )
        async for chunk in iter_account_events(conn, chunk=1000):
            await apply_events(conn, chunk)
            total += len(chunk)
    if cache is not None:
        try:
            cleared = await cache.clear()
        except (RedisError, OSError) as exc:
            # Safe to leave: a cached read older than the store's head is never served.
            log.warning("could not clear the query cache (%s); its entries expire by TTL", exc)
        else:
            log.info("cleared %d cached read(s)", cleared)
    return total
