"""The projection writer's session temp tables stay small however many batches a
connection applies: DELETE leaves dead rows that only VACUUM reuses, and autovacuum
never visits another session's temp tables, so the writer truncates them every
TEMP_ROWS_BETWEEN_TRUNCATES rows (docs/adr/0207)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from server.projections import writer
from server.projections.plan import BatchPlan, PostingRow

BATCHES = 60
PER_BATCH = 50


def _postings(account: uuid.UUID, first_version: int) -> list[PostingRow]:
    now = datetime.now(UTC)
    return [
        (account, v, uuid.uuid4(), "deposit", 100, 100 * v, "EUR", None, "t", now, uuid.uuid4())
        for v in range(first_version, first_version + PER_BATCH)
    ]


async def test_the_temp_tables_do_not_grow_with_every_batch(
    db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "TEMP_ROWS_BETWEEN_TRUNCATES", 2 * PER_BATCH)
    account = uuid.uuid4()
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:  # rolled back: nothing is left in the read models
            for b in range(BATCHES):
                await writer.apply_plan(
                    conn, BatchPlan(postings=_postings(account, 1 + b * PER_BATCH))
                )
            size = await conn.fetchval("SELECT pg_relation_size('pg_temp.tmp_postings')")
            applied = await conn.fetchval(
                "SELECT count(*) FROM transaction_view WHERE account_id = $1", account
            )
        finally:
            await tx.rollback()
    assert applied == BATCHES * PER_BATCH
    # 3,000 rows went through; a truncate every 100 leaves at most two batches' pages
    # (one 8 kB page holds ~40 postings). Without it the file holds all 3,000 (~75 pages).
    assert size <= 8 * 8192, f"tmp_postings is {size} bytes after {BATCHES} batches"
