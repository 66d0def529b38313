"""GetHistory (transaction_view, cursor pagination), GetRecentTransactions (the newest
postings over all of an owner's accounts), GetTransaction (one posting by
its transaction's id; from the event store while the read model lags) and GetAnalytics
(analytics_view, a daily series). A transfer's other account is given by its number
too (server/adapters/account_numbers.py).

Pagination is newest first by the posting's stream version. The cursor is
opaque to clients (base64 of the last version returned, bound to the account);
a page after a cursor only holds versions below it, so postings arriving while
a client pages through never shift, repeat or hide rows of later pages.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

import asyncpg
import msgspec
from piccolo.columns.combination import And, Where, WhereRaw

from server.adapters.account_numbers import with_counterparty_numbers
from server.readmodel.postings import POSTING_EVENT_TYPES, posting_of
from server.readmodel.rows import posting_response, transaction_response
from server.readmodel.tables import AnalyticsView, TransactionView
from shared.api import AnalyticsDay, AnalyticsResponse, TransactionPage, TransactionResponse
from shared.events import event_decoder
from shared.money import INT64_MAX


class InvalidCursorError(ValueError):
    pass


class _Cursor(msgspec.Struct, array_like=True):
    account: str  # the first 8 hex digits of the account id: a cursor is not portable
    before_version: int


def encode_cursor(account_id: UUID, before_version: int) -> str:
    raw = msgspec.msgpack.encode(_Cursor(account_id.hex[:8], before_version))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(account_id: UUID, cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        c = msgspec.msgpack.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidCursorError("The cursor is not one this API returned.") from None
    if not 1 <= c.before_version <= INT64_MAX:  # made up: PostgreSQL could not compare it
        raise InvalidCursorError("The cursor is not one this API returned.")
    if c.account != account_id.hex[:8]:
        raise InvalidCursorError("The cursor belongs to another listing.")
    return c.before_version


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    kind: str | None = None
    text: str | None = None  # in the description, any case, taken literally


def _contains(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere: its own % _ and \\ match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def transactions_page(
    db: asyncpg.Pool, account_id: UUID, limit: int, cursor: str | None, flt: HistoryFilter
) -> TransactionPage:
    where: Where | And = TransactionView.account_id == account_id
    if cursor is not None:
        where &= TransactionView.version < decode_cursor(account_id, cursor)
    if flt.since is not None:
        where &= TransactionView.occurred_at >= flt.since
    if flt.until is not None:
        where &= TransactionView.occurred_at < flt.until
    if flt.kind is not None:
        where &= TransactionView.kind == flt.kind
    if flt.text is not None:
        # pg_c_utf8 (PostgreSQL 17+) folds the case of every letter, not only ASCII's
        # (the database's own locale is C): "ünï" finds "Ünïcode".
        where &= WhereRaw('"description" COLLATE pg_c_utf8 ILIKE {}', _contains(flt.text))
    rows = await (
        TransactionView.select()
        .where(where)
        .order_by(TransactionView.version, ascending=False)
        .limit(limit + 1)
    )
    items = [transaction_response(r) for r in rows[:limit]]
    next_cursor = encode_cursor(account_id, items[-1].version) if len(rows) > limit else None
    return TransactionPage(
        items=await with_counterparty_numbers(db, items), next_cursor=next_cursor
    )


# Each owned account's newest postings by its primary key (account_id, version), then the
# newest of those: at most limit rows read per account, however long its history.
_RECENT = """
SELECT t.* FROM account_owners o
CROSS JOIN LATERAL (
    SELECT * FROM transaction_view v
    WHERE v.account_id = o.account_id
    ORDER BY v.version DESC
    LIMIT $2
) t
WHERE o.owner_id = $1
ORDER BY t.occurred_at DESC, t.account_id DESC, t.version DESC
LIMIT $2
"""
# The owned accounts' postings the read model has not applied yet (after each account
# view's version), at most limit per account: none while it keeps up.
_RECENT_NOT_PROJECTED = """
SELECT n.* FROM account_owners o
CROSS JOIN LATERAL (
    SELECT e.stream_id, e.event_id, e.version, e.recorded_at, e.payload::text AS payload
    FROM events e
    WHERE e.stream_id = o.account_id
      AND e.version > COALESCE(
          (SELECT v.version FROM account_view v WHERE v.account_id = o.account_id), 0)
      AND e.event_type = ANY($2::text[])
    ORDER BY e.version DESC
    LIMIT $3
) n
WHERE o.owner_id = $1
"""


def _stored_posting(row: asyncpg.Record, account_id: UUID) -> TransactionResponse | None:
    """A posting read from the account's stream in the event store (an event the read
    model has not applied yet); None for an event that moves no money."""
    posting = posting_of(
        event_decoder.decode(row["payload"]),
        account_id,
        row["version"],
        row["recorded_at"],
        row["event_id"],
    )
    return posting_response(posting) if posting else None


def _newest_first(items: list[TransactionResponse]) -> list[TransactionResponse]:
    """As ``_RECENT`` orders them (a UUID compares as PostgreSQL's does: by its bytes)."""
    return sorted(items, key=lambda t: (t.occurred_at, t.account_id, t.version), reverse=True)


async def recent_transactions(
    db: asyncpg.Pool, owner_id: UUID, limit: int
) -> list[TransactionResponse]:
    """The ``limit`` newest postings over every account ``owner_id`` holds (closed ones
    too), newest first: from the read model, and from the event store for those it has
    not applied yet, so that a payment is there as soon as it was answered (as the
    balance beside it is)."""
    items = [transaction_response(r) for r in await db.fetch(_RECENT, owner_id, limit)]
    stored = await db.fetch(_RECENT_NOT_PROJECTED, owner_id, POSTING_EVENT_TYPES, limit)
    if stored:
        seen = {(t.account_id, t.version) for t in items}
        for r in stored:
            posting = _stored_posting(r, r["stream_id"])
            if posting and (posting.account_id, posting.version) not in seen:
                items.append(posting)
        items = _newest_first(items)[:limit]
    return await with_counterparty_numbers(db, items)


# A posting the read model has not applied yet, found in the account's stream after the
# view's version: only the four posting types, matched on their transaction's id.
_NEWER_POSTING = """
SELECT event_id, version, recorded_at, payload::text AS payload FROM events
WHERE stream_id = $1
  AND version > COALESCE((SELECT version FROM account_view WHERE account_id = $1), 0)
  AND event_type = ANY($2::text[])
  AND COALESCE(payload->>'transaction_id', payload->>'transfer_id') = $3
LIMIT 1
"""


async def get_transaction(
    db: asyncpg.Pool, account_id: UUID, transaction_id: UUID
) -> TransactionResponse | None:
    """One posting of the account by its transaction's id (a deposit's or a withdrawal's
    ``transaction_id``, a transfer's ``transfer_id``); None if the account has none.
    From the read model, or, for one made since the read model last caught up, from the
    event store: a transaction is there as soon as its command was answered."""
    row = (
        await TransactionView.select()
        .where(
            (TransactionView.account_id == account_id)
            & (TransactionView.transaction_id == transaction_id)
        )
        .first()
    )
    if row is not None:
        found: TransactionResponse | None = transaction_response(row)
    else:
        stored = await db.fetchrow(
            _NEWER_POSTING, account_id, POSTING_EVENT_TYPES, str(transaction_id)
        )
        found = _stored_posting(stored, account_id) if stored else None
    if found is None:
        return None
    return (await with_counterparty_numbers(db, [found]))[0]


async def analytics(account_id: UUID, currency: str, first: date, last: date) -> AnalyticsResponse:
    """One entry per day from ``first`` to ``last`` (inclusive); days without
    postings carry the previous closing balance forward."""
    rows = await (
        AnalyticsView.select()
        .where(
            (AnalyticsView.account_id == account_id)
            & (AnalyticsView.day >= first)
            & (AnalyticsView.day <= last)
        )
        .order_by(AnalyticsView.day)
    )
    before = await (
        AnalyticsView.select(AnalyticsView.closing_balance)
        .where((AnalyticsView.account_id == account_id) & (AnalyticsView.day < first))
        .order_by(AnalyticsView.day, ascending=False)
        .first()
    )
    closing = before["closing_balance"] if before else 0
    by_day = {r["day"]: r for r in rows}
    days: list[AnalyticsDay] = []
    day = first
    while day <= last:
        r = by_day.get(day)
        if r is not None:
            closing = r["closing_balance"]
        days.append(
            AnalyticsDay(
                day=day,
                money_in=r["money_in"] if r else 0,
                money_out=r["money_out"] if r else 0,
                count=r["count"] if r else 0,
                closing_balance=closing,
            )
        )
        day += timedelta(days=1)
    return AnalyticsResponse(
        account_id=account_id,
        currency=currency,
        days=days,
        total_in=sum(d.money_in for d in days),
        total_out=sum(d.money_out for d in days),
        count=sum(d.count for d in days),
    )
