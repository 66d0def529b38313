"""Applies a batch of recorded events to the read models (with the Kafka position,
when given), filling version gaps from the event store, then refreshes the Redis
cache and publishes the changes.

Two ways to write a batch (docs/adr/0314):

- **Under lock** (``apply_events``): in one transaction, lock the accounts'
  account_view rows, plan from their versions, write, commit. Always correct; what
  rebuild uses, and what the worker falls back to.
- **Lock-free** (``apply_events_lock_free``): plan from the versions this process
  last saw committed (``AppliedVersions``) and write in ONE autocommitted statement.
  Only for a plan whose every write is idempotent and monotonic
  (``BatchPlan.idempotent``): a posting is inserted once, an account_view row only
  moves to a higher version. The statement checks that account_view is at the
  versions the plan started from and writes nothing otherwise (the worker commits
  asynchronously: a PostgreSQL crash can take back a batch it saw commit); the
  batch is then planned again under lock.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from server.adapters.account_numbers import KnownAccountNumbers
from server.projections import metrics
from server.projections.notify import publish_changes
from server.projections.plan import BatchPlan, find_gaps, group_by_account, plan_batch
from server.projections.store import lagging_accounts, read_ranges
from server.projections.writer import Positions, apply_plan, lock_versions
from server.readmodel.cache import QueryCache
from server.readmodel.postings import row_counterparty
from shared.events import RecordedEvent
from shared.topics import PROJECTIONS_GROUP

log = logging.getLogger("bank.projections")

CONSUMER_NAME = PROJECTIONS_GROUP
MAX_KNOWN_VERSIONS = 200_000  # accounts whose applied version a worker keeps


@dataclass(frozen=True, slots=True)
class Applied:
    plan: BatchPlan
    rows: list[asyncpg.Record]
    duplicates: int
    filled: int
    planned_from: dict[UUID, int]  # the versions the plan started from
    lock_free: bool = False


class AppliedVersions:
    """The last applied stream version of the accounts this process applied or read,
    as committed in account_view (never ahead of it)."""

    def __init__(self, limit: int = MAX_KNOWN_VERSIONS) -> None:
        self.limit = limit
        self._versions: dict[UUID, int] = {}

    def known(self, accounts: Iterable[UUID]) -> dict[UUID, int] | None:
        """Every one of ``accounts``' versions, or None if one is not known."""
        try:
            return {a: self._versions[a] for a in accounts}
        except KeyError:
            return None

    def remember(self, versions: Mapping[UUID, int]) -> None:
        if len(self._versions) + len(versions) > self.limit:
            self._versions.clear()
        self._versions.update(versions)

    def forget(self, accounts: Iterable[UUID]) -> None:
        for account in accounts:
            self._versions.pop(account, None)

    def forget_all(self) -> None:
        self._versions.clear()


def _redelivered(grouped: dict[UUID, list[RecordedEvent]], current: dict[UUID, int]) -> int:
    """Events at or below their account's ``current`` version."""
    return sum(1 for acc, evs in grouped.items() for e in evs if e.version <= current.get(acc, 0))


async def _plan(
    conn: asyncpg.Connection,
    grouped: dict[UUID, list[RecordedEvent]],
    current: dict[UUID, int],
) -> tuple[BatchPlan, int, int]:
    """The plan from ``current`` versions, gaps filled from the store; with the number
    of redelivered events and of events read from the store."""
    duplicates = _redelivered(grouped, current)
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
    return plan, duplicates, filled


async def apply_events(
    conn: asyncpg.Connection,
    events: Sequence[RecordedEvent],
    consumer: str = "",
    positions: Positions | None = None,
) -> Applied:
    """Plan and write ``events`` inside the caller's transaction (with ``consumer``'s
    Kafka ``positions``, when given), the accounts' rows locked."""
    grouped = group_by_account(list(events))
    current = await lock_versions(conn, sorted(grouped))
    plan, duplicates, filled = await _plan(conn, grouped, current)
    rows = await apply_plan(conn, plan, consumer, positions)
    return Applied(plan, rows, duplicates, filled, current)


async def apply_events_lock_free(
    conn: asyncpg.Connection,
    events: Sequence[RecordedEvent],
    known: AppliedVersions,
    consumer: str = "",
    positions: Positions | None = None,
) -> Applied | None:
    """Plan ``events`` from the ``known`` versions and write them in one autocommitted
    statement; None (nothing written) when a version is not known, an event is at or
    below it (a redelivery), the plan is not idempotent or account_view is not at the
    known versions: the caller applies them under lock."""
    grouped = group_by_account(list(events))
    current = known.known(grouped)
    if current is None:
        return None
    if _redelivered(grouped, current):
        return None  # never skip an event on a remembered version alone
    plan, duplicates, filled = await _plan(conn, grouped, current)
    if not plan.idempotent:
        return None
    try:
        rows = await apply_plan(conn, plan, consumer, positions, planned_from=current)
    except asyncpg.SerializationError:
        # account_view is not where this process thought (a crash took back an
        # asynchronous commit, another applier): nothing was written.
        log.warning("a lock-free batch was planned from stale versions: applying it under lock")
        known.forget(current)
        return None
    return Applied(plan, rows, duplicates, filled, current, lock_free=True)


class Projector:
    def __init__(
        self, pool: asyncpg.Pool, cache: QueryCache, consumer: str = CONSUMER_NAME
    ) -> None:
        self.pool = pool
        self.cache = cache
        self.consumer = consumer
        self.versions = AppliedVersions()
        self.numbers = KnownAccountNumbers()

    async def apply(
        self, events: Sequence[RecordedEvent], positions: Positions | None = None
    ) -> Applied:
        try:
            async with self.pool.acquire() as conn:
                applied = await apply_events_lock_free(
                    conn, events, self.versions, self.consumer, positions
                )
                if applied is None:
                    async with conn.transaction():
                        applied = await apply_events(conn, events, self.consumer, positions)
        except BaseException:
            # A connection lost, PostgreSQL restarted: batches it confirmed may be
            # gone (asynchronous commit). The versions are a hint (the statement
            # checks them), but a wrong one costs a batch planned twice.
            self.versions.forget_all()
            raise
        # Committed: what the plan started from, and what the touched rows are now.
        self.versions.remember(applied.planned_from)
        self.versions.remember({r["account_id"]: r["version"] for r in applied.rows})
        metrics.DUPLICATES.inc(applied.duplicates)
        metrics.GAP_FILLS.inc(applied.filled)
        await self.publish(applied)
        return applied

    async def publish(self, applied: Applied) -> None:
        updates = {u.account_id: u for u in applied.plan.updates}
        opened = {r[0] for r in applied.plan.opens}
        others = {
            other
            for u in applied.plan.updates
            if u.last_posting is not None and (other := row_counterparty(u.last_posting))
        }
        try:
            numbers = await self.numbers.of(self.pool, others)  # no query once all are met
        except Exception:  # the push still goes, naming the other account by its id only
            log.exception("could not read the numbers of %d account(s)", len(others))
            numbers = {}
        try:
            await publish_changes(self.cache, applied.rows, updates, opened, numbers)
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
