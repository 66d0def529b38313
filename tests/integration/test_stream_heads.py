"""Stream heads asked at once are read together (server/adapters/postgres/stream_heads.py):
each caller gets its own stream's newest version, from fewer statements than callers."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from server.adapters.postgres.stream_heads import StreamHeads
from tests.integration.test_projections import funded_customer


async def test_heads_asked_together_are_each_right_and_share_statements(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    accounts = []
    for i in range(3):
        ada, account = await funded_customer(http, f"Heads {i}")
        for _ in range(i):
            assert (await ada.deposit(account, 1_00)).status_code == 201
        accounts.append(uuid.UUID(account))
    unknown = uuid.uuid4()
    expected = {
        a: await db.fetchval("SELECT max(version) FROM events WHERE stream_id = $1", a)
        for a in accounts
    }
    assert sorted(expected.values()) == [1, 2, 3]

    heads = StreamHeads(db)
    asked = [*accounts, unknown] * 25
    got = await asyncio.gather(*(heads.head(a) for a in asked))

    assert got == [expected.get(a, 0) for a in asked]
    assert 1 <= heads.queries < len(asked) / 10, heads.queries
    # Asked again later, alone: a fresh statement, the same answer.
    assert await heads.head(accounts[2]) == 3
