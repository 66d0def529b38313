"""A database as it was before some migration: a schema of its own, with the
migrations before it applied and recorded, for upgrade tests to write old rows in and
then migrate (search_path puts the schema first)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from infra.local.stack import EmbeddedStack
from server.adapters import migrations


@asynccontextmanager
async def database_before(
    stack: EmbeddedStack, db: asyncpg.Pool, applied: Sequence[str]
) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """(its URL, a connection to it) with only the migrations ``applied``; dropped after."""
    name = f"upgrade_{uuid.uuid4().hex[:8]}"
    await db.execute(f"CREATE SCHEMA {name}")
    url = f"{stack.admin_database_url}?search_path={name}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for sql in applied:
            await conn.execute((migrations.MIGRATIONS_DIR / sql).read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", sql)
        yield url, conn
    finally:
        await conn.close()
        await db.execute(f"DROP SCHEMA {name} CASCADE")
