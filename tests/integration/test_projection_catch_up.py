"""Which accounts the projection worker catches up from the event store after a topic
started again empty (a broker restart or a topic recycle): those whose account_view is
behind their stream, found by an index probe per account, not by reading every event
(docs/adr/0354-catch-up-probes-each-account.md).

Each case runs in a transaction that is rolled back: the CDC connector never sees its
rows (logical decoding sends committed transactions only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from server.projections.store import _LAGGING, lagging_accounts
from server.projections.writer import ACCOUNT_COLUMNS

EVENT_COLUMNS = ("stream_id", "stream_type", "version", "event_type", "payload")
OWNER_COLUMNS = ("account_id", "owner_id", "currency", "opened_at")


async def _accounts(
    conn: asyncpg.Connection, heads: dict[uuid.UUID, int], schema: str = "public"
) -> None:
    """Register each account and give its stream ``heads[account]`` events."""
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "account_owners",
        records=[(a, uuid.uuid4(), "EUR", now) for a in heads],
        columns=OWNER_COLUMNS,
        schema_name=schema,
    )
    await conn.copy_records_to_table(
        "events",
        records=[
            (a, "account", v, "MoneyDeposited", "{}")
            for a, head in heads.items()
            for v in range(1, head + 1)
        ],
        columns=EVENT_COLUMNS,
        schema_name=schema,
    )


async def _viewed(conn: asyncpg.Connection, versions: dict[uuid.UUID, int]) -> None:
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "account_view",
        records=[
            (a, uuid.uuid4(), "t", "EUR", "active", 0, v, now, now) for a, v in versions.items()
        ],
        columns=ACCOUNT_COLUMNS,
    )


async def test_accounts_behind_or_never_projected_are_found_with_their_range(
    db: asyncpg.Pool,
) -> None:
    behind, unseen, current, ahead = (uuid.uuid4() for _ in range(4))
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await _accounts(conn, {behind: 3, unseen: 2, current: 2, ahead: 1})
            # "ahead": a view past the store cannot be caught up from it; not asked for.
            await _viewed(conn, {behind: 1, current: 2, ahead: 2})
            lagging = await lagging_accounts(conn)
        finally:
            await tx.rollback()
    mine = {a: lagging[a] for a in (behind, unseen, current, ahead) if a in lagging}
    assert mine == {behind: (1, 3), unseen: (0, 2)}


async def test_the_lookup_probes_each_account_and_never_reads_the_events_whole(
    db: asyncpg.Pool,
) -> None:
    """On copies of the tables (temporary tables of the same names shadow them in this
    session) with 1,000 accounts of 40 events each, the plan reaches each account's head
    by a backward index scan of (stream_id, version)."""
    async with db.acquire() as conn, conn.transaction():
        for table in ("account_owners", "events", "account_view"):
            await conn.execute(
                f"CREATE TEMP TABLE {table} (LIKE public.{table} INCLUDING ALL) ON COMMIT DROP"
            )
        heads = {uuid.uuid4(): 40 for _ in range(1_000)}
        await _accounts(conn, heads, schema="pg_temp")
        await conn.execute("ANALYZE account_owners")
        await conn.execute("ANALYZE events")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {_LAGGING}"))
    assert "Seq Scan on events" not in plan, plan
    assert "Backward" in plan and "events" in plan, plan
