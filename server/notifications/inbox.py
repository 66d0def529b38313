"""The customers' inboxes in PostgreSQL (table ``notifications``, migration 0006).

``store`` inserts each draft at most once (UNIQUE source_key); only the rows it
really inserted come back, so a redelivered record is neither stored nor pushed
twice. Each new row is also due for a push (table ``notification_pushes_due``,
migration 0024, in the same statement) until ``mark_pushed`` deletes it there; rows a
crash left due are pushed again by ``unpushed`` (a push is at-least-once; the app
ignores a notification id it already has).

A security alert (``Draft.mailed``) is also due for an email (table
``notification_mails_due``, migration 0037, in the same statement) until the mail
provider took it (``mails_sent``); one the provider refused waits a while
(``mails_failed``) and ``mails_due`` hands it out again, so the mail is sent at least
once whatever fails in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from server.notifications.rules import Draft
from shared.notifications import Notification

_COLUMNS = (
    "id, user_id, kind, title, body, account_id, occurred_at, session_id,"
    " read_at IS NOT NULL AS read"
)

_INSERT = f"""
WITH new AS (
    INSERT INTO notifications
        (user_id, source_key, kind, title, body, account_id, occurred_at, session_id)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::uuid[], $7::timestamptz[], $8::text[])
    ON CONFLICT (source_key) DO NOTHING
    RETURNING {_COLUMNS}, source_key
), due AS (
    INSERT INTO notification_pushes_due (notification_id) SELECT id FROM new
), mail AS (
    INSERT INTO notification_mails_due (notification_id, address)
    SELECT new.id, m.address
    FROM new JOIN unnest($9::text[], $10::text[]) AS m(source_key, address) USING (source_key)
)
SELECT * FROM new
"""
# A failed mail waits this long times 2 ** (its failures so far), at most MAIL_RETRY_MAX.
MAIL_RETRY_FIRST = timedelta(seconds=30)
MAIL_RETRY_MAX = timedelta(hours=1)
# The doublings past which the wait is MAIL_RETRY_MAX anyway, so that a mail refused for
# weeks does not overflow 2 ** attempts.
_MAIL_RETRY_DOUBLINGS = math.ceil(math.log2(MAIL_RETRY_MAX / MAIL_RETRY_FIRST))


def notification(row: asyncpg.Record) -> Notification:
    return Notification(
        id=row["id"],
        kind=row["kind"],
        title=row["title"],
        body=row["body"],
        account_id=row["account_id"],
        occurred_at=row["occurred_at"],
        read=row["read"],
        session_id=row["session_id"],
    )


async def store(pool: asyncpg.Pool, drafts: Sequence[Draft]) -> list[tuple[UUID, Notification]]:
    """Insert the drafts; return (user, notification) for the ones that are new."""
    if not drafts:
        return []
    rows = await pool.fetch(
        _INSERT,
        [d.user_id for d in drafts],
        [d.source_key for d in drafts],
        [d.kind for d in drafts],
        [d.title for d in drafts],
        [d.body for d in drafts],
        [d.account_id for d in drafts],
        [d.occurred_at for d in drafts],
        [d.session_id for d in drafts],
        [d.source_key for d in drafts if d.mailed],
        [d.mail_to for d in drafts if d.mailed],
    )

    return [(r["user_id"], notification(r)) for r in sorted(rows, key=lambda r: r["id"])]


async def mark_pushed(pool: asyncpg.Pool, ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        await pool.execute(
            "DELETE FROM notification_pushes_due WHERE notification_id = ANY($1::bigint[])", ids
        )


async def unpushed(pool: asyncpg.Pool, limit: int = 500) -> list[tuple[UUID, Notification]]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM notification_pushes_due"
        " JOIN notifications ON id = notification_id ORDER BY notification_id LIMIT $1",
        limit,
    )
    return [(r["user_id"], notification(r)) for r in rows]


@dataclass(frozen=True, slots=True)
class DueMail:
    """A security alert to email: to whom (None: the customer is gone) and what."""

    notification_id: int
    address: str | None
    full_name: str
    title: str
    body: str
    occurred_at: datetime


async def mails_due(
    pool: asyncpg.Pool, ids: Sequence[int] | None = None, limit: int = 100
) -> list[DueMail]:
    """The alerts due for an email now, oldest first; of ``ids`` only, when given."""
    rows = await pool.fetch(
        "SELECT d.notification_id, coalesce(d.address, u.email) AS address,"
        " coalesce(u.full_name, '') AS full_name, n.title, n.body, n.occurred_at"
        " FROM notification_mails_due d JOIN notifications n ON n.id = d.notification_id"
        " LEFT JOIN users u ON u.id = n.user_id"
        " WHERE d.next_attempt_at <= now()"
        " AND ($1::bigint[] IS NULL OR d.notification_id = ANY($1::bigint[]))"
        " ORDER BY d.notification_id LIMIT $2",
        None if ids is None else list(ids),
        limit,
    )
    return [DueMail(**dict(r)) for r in rows]


async def mails_sent(pool: asyncpg.Pool, ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        await pool.execute(
            "DELETE FROM notification_mails_due WHERE notification_id = ANY($1::bigint[])", ids
        )


async def mails_failed(pool: asyncpg.Pool, ids: Iterable[int]) -> None:
    """Each due again after MAIL_RETRY_FIRST, doubled with each failure up to MAIL_RETRY_MAX."""
    ids = list(ids)
    if ids:
        await pool.execute(
            "UPDATE notification_mails_due SET attempts = attempts + 1,"
            " next_attempt_at = now()"
            " + least($2::interval * 2 ^ least(attempts, $4::int), $3::interval)"
            " WHERE notification_id = ANY($1::bigint[])",
            ids,
            MAIL_RETRY_FIRST,
            MAIL_RETRY_MAX,
            _MAIL_RETRY_DOUBLINGS,
        )


async def owners(pool: asyncpg.Pool, account_ids: Iterable[UUID]) -> dict[UUID, UUID]:
    """Owner of each account, from its AccountOpened event (the event store is the
    source of truth; the read model may lag behind the topic)."""
    ids = list(set(account_ids))
    if not ids:
        return {}
    rows = await pool.fetch(
        "SELECT stream_id, (payload->>'owner_id')::uuid AS owner_id FROM events"
        " WHERE stream_id = ANY($1::uuid[]) AND version = 1",
        ids,
    )
    return {r["stream_id"]: r["owner_id"] for r in rows if r["owner_id"] is not None}


# --- what the API reads ----------------------------------------------------------------


async def page(
    pool: asyncpg.Pool, user_id: UUID, limit: int, before: int | None, unread_only: bool
) -> tuple[list[Notification], int]:
    """Newest first, below ``before`` when given; and the count of unread ones."""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM notifications WHERE user_id = $1"
        " AND ($2::bigint IS NULL OR id < $2) AND (NOT $3 OR read_at IS NULL)"
        " ORDER BY id DESC LIMIT $4",
        user_id,
        before,
        unread_only,
        limit,
    )
    return [notification(r) for r in rows], await unread_count(pool, user_id)


async def unread_count(pool: asyncpg.Pool, user_id: UUID) -> int:
    n = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL", user_id
    )
    return int(n or 0)


async def mark_read(
    pool: asyncpg.Pool, user_id: UUID, ids: Sequence[int], up_to: int | None
) -> int:
    """Mark the caller's notifications read; another customer's ids change nothing."""
    status = await pool.execute(
        "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL"
        " AND (id = ANY($2::bigint[]) OR ($3::bigint IS NOT NULL AND id <= $3))",
        user_id,
        list(ids),
        up_to,
    )
    return int(status.split()[-1])
