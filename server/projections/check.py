"""Consistency check: every account_view row against the fold of its events
(the domain aggregate, which sums amounts rather than trusting balance_after):
balance, available balance (what pending holds reserve), version, status and name;
hold_view's pending holds against the fold's; and transaction_view /
analytics_view posting counts against the event store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import cast
from uuid import UUID

import asyncpg

from server.domain.account import Account
from server.projections.store import iter_account_events
from shared.events import BALANCE_EVENT_TYPES, AccountEvent, RecordedEvent


async def _streams(conn: asyncpg.Connection) -> AsyncIterator[tuple[UUID, list[RecordedEvent]]]:
    current: UUID | None = None
    events: list[RecordedEvent] = []
    async for chunk in iter_account_events(conn, chunk=2000):
        for e in chunk:
            if current is not None and e.stream_id != current:  # events holds current's
                yield current, events
                events = []
            current = e.stream_id
            events.append(e)
    if events and current is not None:
        yield current, events


def _account_events(events: Iterable[RecordedEvent]) -> list[AccountEvent]:
    """The events of an account stream (iter_account_events reads only those; the
    write side puts nothing else on one)."""
    return [cast(AccountEvent, e.event) for e in events]


@dataclass
class Report:
    checked: int = 0
    differences: list[str] = field(default_factory=list)
    # Accounts that differ only because account_view is behind the store (a
    # running worker that has not caught up yet, rather than a wrong value).
    behind: set[UUID] = field(default_factory=set)
    wrong: set[UUID] = field(default_factory=set)


@dataclass
class _Views:
    accounts: dict[UUID, asyncpg.Record]
    pending: dict[UUID, set[UUID]]  # account -> hold ids in hold_view
    postings: dict[UUID, tuple[int, int]]  # account -> (postings, duplicated)
    daily: dict[UUID, int]  # account -> postings counted by analytics_view


async def _read_views(conn: asyncpg.Connection) -> _Views:
    pending: dict[UUID, set[UUID]] = {}
    for r in await conn.fetch("SELECT account_id, hold_id FROM hold_view"):
        pending.setdefault(r["account_id"], set()).add(r["hold_id"])
    return _Views(
        accounts={
            r["account_id"]: r
            for r in await conn.fetch(
                "SELECT account_id, balance, balance - held AS available, version, status, name"
                " FROM account_view"
            )
        },
        pending=pending,
        postings={
            r["account_id"]: (r["n"], r["dup"])
            for r in await conn.fetch(
                "SELECT account_id, count(*) AS n, count(*) - count(DISTINCT transaction_id) AS dup"
                " FROM transaction_view GROUP BY account_id"
            )
        },
        daily={
            r["account_id"]: r["n"]
            for r in await conn.fetch(
                "SELECT account_id, sum(count) AS n FROM analytics_view GROUP BY account_id"
            )
        },
    )


async def find_differences(conn: asyncpg.Connection) -> Report:
    """Every difference between the read models and the event store, read
    from one snapshot."""
    report = Report()
    diffs = report.differences
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        views = await _read_views(conn)
        async for account_id, events in _streams(conn):
            report.checked += 1
            before = len(diffs)
            try:
                folded = Account.from_events(_account_events(events))
            except ValueError as exc:
                diffs.append(f"{account_id}: stream cannot be folded: {exc}")
                continue
            view = views.accounts.pop(account_id, None)
            if view is None:
                diffs.append(
                    f"{account_id}: missing from account_view (store at v{folded.version})"
                )
                report.behind.add(account_id)
                continue
            for name, want in (("balance", folded.balance), ("available", folded.available),
                               ("version", folded.version), ("status", folded.status),
                               ("name", folded.name)):  # fmt: skip
                if view[name] != want:
                    diffs.append(f"{account_id}: {name} {view[name]!r} in view, {want!r} in store")
            _compare_holds(diffs, account_id, views.pending.pop(account_id, set()), folded)
            _compare_postings(diffs, account_id, events, views)
            if len(diffs) > before:
                _classify(report, account_id, events, view)
        for account_id in views.accounts.keys() | views.pending.keys():
            diffs.append(f"{account_id}: in account_view or hold_view but has no events")
            report.wrong.add(account_id)
    return report


def _compare_postings(
    diffs: list[str], account_id: UUID, events: list[RecordedEvent], views: _Views
) -> None:
    n_postings = sum(isinstance(e.event, BALANCE_EVENT_TYPES) for e in events)
    got, dup = views.postings.get(account_id, (0, 0))
    if got != n_postings or dup:
        diffs.append(
            f"{account_id}: {got} postings in transaction_view ({dup} duplicated),"
            f" {n_postings} in store"
        )
    if views.daily.get(account_id, 0) != n_postings:
        diffs.append(
            f"{account_id}: analytics_view counts {views.daily.get(account_id, 0)} postings,"
            f" store has {n_postings}"
        )


def _compare_holds(diffs: list[str], account_id: UUID, viewed: set[UUID], folded: Account) -> None:
    want = {h.hold_id for h in folded.holds}
    if viewed != want:
        diffs.append(
            f"{account_id}: {len(viewed)} pending hold(s) in hold_view, {len(want)} in store"
            f" ({len(viewed ^ want)} differ)"
        )


def _classify(
    report: Report, account_id: UUID, events: list[RecordedEvent], view: asyncpg.Record
) -> None:
    """Behind, when the view equals the fold of the first view.version events."""
    prefix = _account_events(e for e in events if e.version <= view["version"])
    if view["version"] < len(events) and prefix:
        folded = Account.from_events(prefix)
        if (folded.balance, folded.available, folded.version, folded.status) == (
            view["balance"],
            view["available"],
            view["version"],
            view["status"],
        ):
            report.behind.add(account_id)
            return
    report.wrong.add(account_id)
