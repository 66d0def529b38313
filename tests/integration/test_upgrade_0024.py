"""Migration 0024 on an inbox written before it: the notifications not yet pushed are
the ones due for a push afterwards, and nothing already pushed is pushed again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from infra.local.stack import EmbeddedStack
from server.adapters import migrations
from server.notifications import inbox
from server.notifications.rules import Draft
from tests.support.old_database import database_before

BEFORE = sorted(p.name for p in migrations.MIGRATIONS_DIR.glob("*.sql") if p.name < "0024")


async def _old_notification(conn: asyncpg.Connection, user: uuid.UUID, pushed: bool) -> int:
    """A notification as the consumer stored it before 0024 (pushed_at set once pushed)."""
    nid: int = await conn.fetchval(
        "INSERT INTO notifications (user_id, source_key, kind, title, body, occurred_at,"
        " pushed_at) VALUES ($1, $2, 'money_received', 'You received 1.00 EUR', 'A transfer',"
        " now(), CASE WHEN $3 THEN now() END) RETURNING id",
        user,
        f"event:{uuid.uuid4()}",
        pushed,
    )
    return nid


async def test_an_inbox_from_before_0024_keeps_what_is_still_to_push(
    stack: EmbeddedStack, db: asyncpg.Pool
) -> None:
    user = uuid.uuid4()
    async with database_before(stack, db, BEFORE) as (url, conn):
        pushed = await _old_notification(conn, user, pushed=True)
        due = [await _old_notification(conn, user, pushed=False) for _ in range(2)]

        assert "0024_notification_pushes_due.sql" in await migrations.migrate(url)

        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'notifications'"
        )
        assert "pushed_at" not in {c["column_name"] for c in columns}
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        try:
            # The sweep finds exactly the two that were never pushed, oldest first...
            assert [n.id for _, n in await inbox.unpushed(pool)] == due
            # ...a new notification is due until it is marked pushed...
            draft = Draft(
                user_id=user,
                source_key=f"event:{uuid.uuid4()}",
                kind="money_received",
                title="You received 2.00 EUR",
                body="A transfer",
                occurred_at=datetime.now(UTC),
            )
            ((owner, new),) = await inbox.store(pool, [draft])
            assert owner == user and [n.id for _, n in await inbox.unpushed(pool)] == [*due, new.id]
            assert await inbox.store(pool, [draft]) == []  # redelivered: stored once, due once
            await inbox.mark_pushed(pool, [due[0], new.id])
            assert [n.id for _, n in await inbox.unpushed(pool)] == [due[1]]
            # ...and every notification is still in the inbox, the pushed one too.
            page = await pool.fetch("SELECT id FROM notifications ORDER BY id")
            assert [r["id"] for r in page] == [pushed, *due, new.id]
        finally:
            await pool.close()
