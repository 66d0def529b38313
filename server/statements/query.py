"""GetStatement: one account's statement for one month, read from the event store
(the source of truth: docs/adr/1010-statements-from-the-event-store.md).

One read-only REPEATABLE READ transaction, so every figure comes from one snapshot
of the ledger: the account registry (owner, number, holder's name), the account's
AccountOpened event (name, currency, when it was opened), the balance after the last
posting recorded before the month (the opening balance; 0 if none), the postings
recorded in the month in stream order, and the counterparties' account numbers.
Only the four ledger event types are read (by the events table's ``event_type``
column); freezes, limit changes, holds and any event type this process does not
know are never fetched, so they can neither break nor enter a statement.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from server.application.access import check_account_access
from server.application.actor import Actor
from server.domain.account_number import formatted
from server.domain.errors import AccountNotFoundError
from server.statements.builder import (
    KIND_BY_EVENT,
    AccountHeader,
    Statement,
    build_statement,
    counterparties,
)
from server.statements.period import statement_period
from shared.events import AccountOpened, event_decoder

POSTING_TYPES = [t.__name__ for t in KIND_BY_EVENT]  # what the events table's event_type says

_ACCOUNT = """
SELECT o.owner_id, o.account_number, u.full_name, e.payload::text AS opened, e.recorded_at
FROM account_owners o
LEFT JOIN users u ON u.id = o.owner_id
LEFT JOIN events e ON e.stream_id = o.account_id AND e.version = 1
WHERE o.account_id = $1
"""
_OPENING = """
SELECT payload::text FROM events
WHERE stream_id = $1 AND event_type = ANY($2::text[]) AND recorded_at < $3
ORDER BY version DESC LIMIT 1
"""
_POSTINGS = """
SELECT recorded_at, payload::text AS payload FROM events
WHERE stream_id = $1 AND event_type = ANY($2::text[]) AND recorded_at >= $3 AND recorded_at < $4
ORDER BY version
"""
_NUMBERS = "SELECT account_id, account_number FROM account_owners WHERE account_id = ANY($1)"


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
        last = await conn.fetchval(_OPENING, account_id, POSTING_TYPES, period.start)
        opening = getattr(event_decoder.decode(last), "balance_after", 0) if last else 0
        rows = await conn.fetch(_POSTINGS, account_id, POSTING_TYPES, period.start, period.end)
        events = [(r["recorded_at"], event_decoder.decode(r["payload"])) for r in rows]
        others = counterparties(e for _, e in events)
        numbers = await conn.fetch(_NUMBERS, list(others)) if others else []
    header = AccountHeader(
        account_id=account_id,
        name=opened.name,
        account_number=formatted(row["account_number"]) if row["account_number"] else "",
        currency=opened.currency,
        holder=row["full_name"] or "",
    )
    account_numbers = {
        r["account_id"]: formatted(r["account_number"]) for r in numbers if r["account_number"]
    }
    return build_statement(header, period, opening, events, account_numbers)
