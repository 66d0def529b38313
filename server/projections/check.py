"""Consistency check: every account_view row against the fold of its events
(the domain aggregate, which sums amounts rather than trusting balance_after),
and transaction_view / analytics_view posting counts against the event store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg

from server.domain.account import Account
from server.projections.store import iter_account_events
from shared.events import BALANCE_EVENT_TYPES, RecordedEvent


async def _streams(conn: asyncpg.Connection) -> AsyncIterator[tuple[UUID, list[RecordedEvent]]]:
    current: UUID | None = None
    events: list[RecordedEvent] = []
    async for chunk in iter_account_events(conn, chunk=2000):
        for e in chunk:
            if e.stream_id != current and events:
                yield current, events  # type: ignore[misc]
                events = []
            current = e.stream_id
            events.append(e)
    if events and current is not None:
        yield current, events


async def find_differences(conn: asyncpg.Connection) -> tuple[int, list[str]]:
    """(accounts checked, human-readable differences)."""
    diffs: list[str] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        views = {
            r["account_id"]: r
            for r in await conn.fetch(
                "SELECT account_id, balance, version, status FROM account_view"
            )
        }
        postings = {
            r["account_id"]: (r["n"], r["dup"])
            for r in await conn.fetch(
                "SELECT account_id, count(*) AS n, count(*) - count(DISTINCT transaction_id) AS dup"
                " FROM transaction_view GROUP BY account_id"
            )
        }
        daily = {
            r["account_id"]: r["n"]
            for r in await conn.fetch(
                "SELECT account_id, sum(count) AS n FROM analytics_view GROUP BY account_id"
            )
        }
        checked = 0
        async for account_id, events in _streams(conn):
            checked += 1
            try:
                folded = Account.from_events([e.event for e in events])  # type: ignore[misc]
            except ValueError as exc:
                diffs.append(f"{account_id}: stream cannot be folded: {exc}")
                continue
            n_postings = sum(isinstance(e.event, BALANCE_EVENT_TYPES) for e in events)
            view = views.pop(account_id, None)
            if view is None:
                diffs.append(
                    f"{account_id}: missing from account_view (store at v{folded.version})"
                )
                continue
            for name, want in (("balance", folded.balance), ("version", folded.version),
                               ("status", folded.status)):  # fmt: skip
                if view[name] != want:
                    diffs.append(f"{account_id}: {name} {view[name]!r} in view, {want!r} in store")
            got, dup = postings.get(account_id, (0, 0))
            if got != n_postings or dup:
                diffs.append(
                    f"{account_id}: {got} postings in transaction_view ({dup} duplicated),"
                    f" {n_postings} in store"
                )
            if daily.get(account_id, 0) != n_postings:
                diffs.append(
                    f"{account_id}: analytics_view counts {daily.get(account_id, 0)} postings,"
                    f" store has {n_postings}"
                )
        for account_id in views:
            diffs.append(f"{account_id}: in account_view but has no events")
    return checked, diffs
