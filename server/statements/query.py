"""GetStatement: one account's statement for one month, read from the event store
(the source of truth: docs/adr/1010-statements-from-the-event-store.md).

One read-only REPEATABLE READ transaction, so every figure comes from one snapshot
of the ledger: the account registry (owner, number, holder's name), the account's
AccountOpened event (currency, when it was opened, its name unless it was renamed by
the month's end), the stream versions at the month's two bounds, the balance after
the last posting before the month (the opening balance; 0 if none), the postings
between the bounds in stream order, and the counterparties' account numbers. A month
is a range of stream versions, so consecutive statements chain exactly: each posting
is in one month, and one month's closing balance is the next one's opening balance.
Only the four ledger event types are read (by the events table's ``event_type``
column); freezes, limit changes, holds and any event type this process does not
know are never fetched, so they can neither break nor enter a statement.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from server.adapters.account_numbers import account_numbers
from server.application.access import check_account_access
from server.application.actor import Actor
from server.domain.account_number import formatted
from server.domain.errors import AccountNotFoundError
from server.readmodel.postings import POSTING_EVENT_TYPES
from server.statements.builder import (
    AccountHeader,
    Statement,
    build_statement,
    counterparties,
)
from server.statements.period import statement_period
from shared.events import AccountOpened, event_decoder

_ACCOUNT = """
SELECT o.owner_id, o.account_number, u.full_name, e.payload::text AS opened, e.recorded_at
FROM account_owners o
LEFT JOIN users u ON u.id = o.owner_id
LEFT JOIN events e ON e.stream_id = o.account_id AND e.version = 1
WHERE o.account_id = $1
"""
# The last version of the stream recorded before each bound: a binary search over the
# stream's versions (1..head, no gaps) by point lookups on (stream_id, version), so a
# month of a long stream costs log2(length) probes, not a scan of the stream
# (docs/adr/1010). recorded_at grows with the version within a stream: appends to one
# stream are serialized by the write path's lock and stamped by clock_timestamp().
_BOUNDS = """
WITH RECURSIVE search(bound, lo, hi) AS (
    SELECT b, 0,
           COALESCE((SELECT max(version) FROM events WHERE stream_id = $1), 0) + 1
    FROM unnest($2::timestamptz[]) AS b
  UNION ALL
    SELECT s.bound,
           CASE WHEN e.recorded_at < s.bound THEN (s.lo + s.hi) / 2 ELSE s.lo END,
           CASE WHEN e.recorded_at < s.bound THEN s.hi ELSE (s.lo + s.hi) / 2 END
    FROM search s
    JOIN events e ON e.stream_id = $1 AND e.version = (s.lo + s.hi) / 2
    WHERE s.hi - s.lo > 1
)
SELECT bound, lo FROM search WHERE hi - lo <= 1
"""
_OPENING = """
SELECT payload::text FROM events
WHERE stream_id = $1 AND version <= $2 AND event_type = ANY($3::text[])
ORDER BY version DESC LIMIT 1
"""
# The account's name at the end of the month: its last rename up to then (migration 0029).
_RENAMED = """
SELECT payload->>'name' FROM events
WHERE stream_id = $1 AND version <= $2 AND event_type = 'AccountRenamed'
ORDER BY version DESC LIMIT 1
"""
_POSTINGS = """
SELECT recorded_at, payload::text AS payload FROM events
WHERE stream_id = $1 AND version > $2 AND version <= $3 AND event_type = ANY($4::text[])
ORDER BY version
"""


async def get_statement(
    pool: asyncpg.Pool, actor: Actor, account_id: UUID, year: int, month: int
) -> Statement:
    """The statement, or 404 (no such account, or a customer's who is not the actor),
    or 422 (a month not begun yet, or over before the account was opened)."""
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        now = await conn.fetchval("SELECT clock_timestamp()")  # the snapshot's time
        row = await conn.fetchrow(_ACCOUNT, account_id)
        if row is None or row["opened"] is None:
            raise AccountNotFoundError("No such account.")
        check_account_access(actor, row["owner_id"], "read")
        opened = event_decoder.decode(row["opened"])
        if not isinstance(opened, AccountOpened):
            raise AccountNotFoundError("No such account.")
        period = statement_period(year, month, now=now, opened_at=row["recorded_at"])
        bounds = await conn.fetch(_BOUNDS, account_id, [period.start, period.end])
        before = {r["bound"]: r["lo"] for r in bounds}  # last version before each bound
        first, last = before[period.start], before[period.end]
        found = await conn.fetchval(_OPENING, account_id, first, POSTING_EVENT_TYPES)
        opening = getattr(event_decoder.decode(found), "balance_after", 0) if found else 0
        rows = await conn.fetch(_POSTINGS, account_id, first, last, POSTING_EVENT_TYPES)
        name = await conn.fetchval(_RENAMED, account_id, last) or opened.name
        events = [(r["recorded_at"], event_decoder.decode(r["payload"])) for r in rows]
        numbers = await account_numbers(conn, counterparties(e for _, e in events))
    header = AccountHeader(
        account_id=account_id,
        name=name,
        account_number=formatted(row["account_number"]) if row["account_number"] else "",
        currency=opened.currency,
        holder=row["full_name"] or "",
    )
    return build_statement(header, period, opening, events, numbers)
