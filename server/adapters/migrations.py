"""Applies server/migrations/*.sql in name order, once each, under an advisory lock."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_ID = 0x62616E6B  # "bank"


async def migrate(database_url: str) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    conn = await asyncpg.connect(database_url)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            applied_now.append(path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
        await conn.close()
    return applied_now


def main() -> None:
    from runtime.settings import Settings

    settings = Settings.from_env()
    names = asyncio.run(migrate(settings.admin_database_url))
    print("migrations applied:", ", ".join(names) if names else "none pending", file=sys.stderr)


if __name__ == "__main__":
    main()
