"""Migration 0004 on a database written before it: the outbox goes, balances and
history stay, and the new write path carries on from the old streams."""

from __future__ import annotations

import uuid

import asyncpg

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.adapters import migrations
from server.application import handlers
from server.application.actor import Actor
from server.application.context import AppContext
from shared.api import MoneyMovementRequest
from shared.events import AccountOpened, EventMetadata, MoneyDeposited, event_encoder
from tests.support.old_database import database_before

BEFORE = ["0001_event_store.sql", "0002_read_models.sql", "0003_security.sql"]


async def _old_deposit(conn: asyncpg.Connection, account: uuid.UUID, owner: uuid.UUID) -> None:
    """An account with a deposit, as the write path before 0004 stored it (events + outbox)."""
    opened = AccountOpened(account_id=account, owner_id=owner, name="Old", currency="EUR")
    deposited = MoneyDeposited(
        account_id=account,
        transaction_id=uuid.uuid4(),
        amount=700,
        currency="EUR",
        balance_after=700,
    )
    await conn.execute(
        "INSERT INTO account_owners (account_id, owner_id, currency) VALUES ($1, $2, 'EUR')",
        account,
        owner,
    )
    for version, event in ((1, opened), (2, deposited)):
        event_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO events (event_id, stream_id, stream_type, version, event_type, payload)"
            " VALUES ($1, $2, 'account', $3, $4, $5::jsonb)",
            event_id,
            account,
            version,
            type(event).__name__,
            event_encoder.encode(event).decode(),
        )
        await conn.execute(
            "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, topic, key, event_type,"
            " payload) VALUES ($1, 'account', $2, 'account-events', $3, $4, '{}'::jsonb)",
            event_id,
            account,
            str(account),
            type(event).__name__,
        )


async def test_a_database_from_before_0004_comes_up_with_its_history(
    stack: EmbeddedStack, db: asyncpg.Pool
) -> None:
    account, owner = uuid.uuid4(), uuid.uuid4()
    async with database_before(stack, db, BEFORE) as (url, conn):
        await _old_deposit(conn, account, owner)

        assert await migrations.migrate(url) == [
            p.name for p in sorted(migrations.MIGRATIONS_DIR.glob("*.sql")) if p.name not in BEFORE
        ]

        assert await conn.fetchval("SELECT to_regclass('outbox')") is None
        assert await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", account) == 2
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            ctx = AppContext(Settings.from_env(stack.env(), group_commit=False), pool)
            actor = Actor(owner)
            result = await handlers.deposit_money(
                ctx,
                actor,
                account,
                MoneyMovementRequest(amount=300),
                None,
                EventMetadata(actor_id=str(owner)),
            )
            assert result.status_code == 201
            balance = await pool.fetchval(
                "SELECT (payload->>'balance_after')::bigint FROM events"
                " WHERE stream_id = $1 ORDER BY version DESC LIMIT 1",
                account,
            )
            assert balance == 1_000
        finally:
            await pool.close()
