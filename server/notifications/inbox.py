"""The customers' inboxes in PostgreSQL (table ``notifications``, migration 0006).

``store`` inserts each draft at most once (UNIQUE source_key); only the rows it
really inserted come back, so a redelivered record is neither stored nor pushed
twice. Each new row is also due for a push (table ``notification_pushes_due``,
migration 0024, in the same statement) until ``mark_pushed`` deletes it there; rows a
crash left due are pushed again by ``unpushed`` (a push is at-least-once; the app
ignores a notification id it already has).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    RETURNING {_COLUMNS}
), due AS (
    INSERT INTO notification_pushes_due (notification_id) SELECT id FROM new
)
SELECT * FROM new
"""


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
