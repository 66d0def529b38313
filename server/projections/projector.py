"""Applies a batch of recorded events to the read models in one PostgreSQL
transaction (with the Kafka position, when given), filling version gaps from
the event store, then refreshes the Redis cache and publishes the changes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg

from server.projections import metrics
from server.projections.notify import publish_changes
from server.projections.plan import BatchPlan, find_gaps, group_by_account, plan_batch
from server.projections.store import lagging_accounts, read_ranges
from server.projections.writer import Positions, apply_plan, lock_versions
from server.readmodel.cache import QueryCache
from shared.events import RecordedEvent

log = logging.getLogger("bank.projections")

CONSUMER_NAME = "bank-projections"


@dataclass(frozen=True, slots=True)
class Applied:
    plan: BatchPlan
    rows: list[asyncpg.Record]
    duplicates: int
    filled: int


async def apply_events(
    conn: asyncpg.Connection,
    events: Sequence[RecordedEvent],
    consumer: str = "",
    positions: Positions | None = None,
) -> Applied:
    """Plan and write ``events`` inside the caller's transaction (with ``consumer``'s
    Kafka ``positions``, when given)."""
    grouped = group_by_account(list(events))
    current = await lock_versions(conn, sorted(grouped))
    duplicates = sum(
        1 for acc, evs in grouped.items() for e in evs if e.version <= current.get(acc, 0)
    )
    filled = 0
    gaps = find_gaps(grouped, current)
    if gaps:
        from_store = group_by_account(await read_ranges(conn, gaps))
        for acc in gaps:
            grouped[acc] = from_store.get(acc, [])
            filled += len(grouped[acc])
        log.warning("filled version gaps of %d account(s) from the event store", len(gaps))
    plan = plan_batch(grouped, current)
    for acc, version in plan.unresolved.items():
        log.error("account %s: version %d is missing from the event store too", acc, version)
    rows = await apply_plan(conn, plan, consumer, positions)
    return Applied(plan=plan, rows=rows, duplicates=duplicates, filled=filled)


class Projector:
    def __init__(
        self, pool: asyncpg.Pool, cache: QueryCache, consumer: str = CONSUMER_NAME
    ) -> None:
        self.pool = pool
        self.cache = cache
        self.consumer = consumer

    async def apply(
        self, events: Sequence[RecordedEvent], positions: Positions | None = None
    ) -> Applied:
        async with self.pool.acquire() as conn, conn.transaction():
            applied = await apply_events(conn, events, self.consumer, positions)
        metrics.DUPLICATES.inc(applied.duplicates)
        metrics.GAP_FILLS.inc(applied.filled)
        await self.publish(applied)
        return applied

    async def publish(self, applied: Applied) -> None:
        updates = {u.account_id: u for u in applied.plan.updates}
        opened = {r[0] for r in applied.plan.opens}
        try:
            await publish_changes(self.cache, applied.rows, updates, opened)
        except Exception:  # the read models are committed; a cache miss falls back to them
            log.exception(
                "could not refresh the Redis cache / publish %d change(s)", len(applied.rows)
            )

    async def catch_up_from_store(self, chunk: int = 500) -> AsyncIterator[int]:
        """Apply what the event store has and account_view lacks (after a start
        or a topic that restarted empty), ``chunk`` accounts at a time; yields
        the number of accounts of each chunk applied."""
        async with self.pool.acquire() as conn:
            behind = await lagging_accounts(conn)
        ids = list(behind)
        for i in range(0, len(ids), chunk):
            ranges = {acc: (behind[acc][0], 0) for acc in ids[i : i + chunk]}
            async with self.pool.acquire() as conn:
                events = await read_ranges(conn, ranges)
            await self.apply(events)
            yield len(ranges)
        if ids:
            log.info("caught up %d account(s) from the event store", len(ids))
