"""The projector's lock-free path (docs/adr/0314) against the real read models: an
account this process has applied is written in one autocommitted statement; a batch
planned from a remembered version that account_view does not have (an asynchronous
commit a PostgreSQL crash took back) writes nothing and is applied under lock, and
every posting ends up in the read models exactly once."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import redis.asyncio

from infra.local.procs import ManagedProcess
from server.projections.projector import Projector
from server.projections.store import read_ranges
from server.readmodel.cache import QueryCache
from tests.support.customers import sign_up


async def test_lock_free_batches_never_skip_or_double_a_posting(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
    projections: ManagedProcess,
    redis_client: redis.asyncio.Redis,
) -> None:
    projections.stop()  # this test's projector is the only one applying
    try:
        ada = await sign_up(http, "Ada Lock Free")
        account = uuid.UUID((await ada.open_account())["id"])
        for amount in (100, 200, 300, 400, 500):
            assert (await ada.deposit(str(account), amount)).status_code == 201
        async with db.acquire() as conn:
            events = await read_ranges(conn, {account: (0, 0)})
        assert [e.version for e in events] == [1, 2, 3, 4, 5, 6]
        projector = Projector(db, QueryCache(redis_client), consumer="lock-free-test")

        opened = await projector.apply(events[:2])  # a new account: under lock
        known = await projector.apply(events[2:3])  # v3, known now: one statement
        # As if v4 had been applied and a crash had taken the commit back: the
        # process remembers v4, account_view has v3.
        projector.versions.remember({account: 4})
        ahead = await projector.apply(events[4:])  # v5, v6: v4 is fetched from the store
        again = await projector.apply(events)  # a redelivery of everything

        view = await db.fetchrow(
            "SELECT balance, version FROM account_view WHERE account_id = $1", account
        )
        postings = await db.fetchval(
            "SELECT count(*) FROM transaction_view WHERE account_id = $1", account
        )
        day = await db.fetchrow(
            "SELECT money_in, count FROM analytics_view WHERE account_id = $1", account
        )
    finally:
        projections.restart()

    assert [opened.lock_free, known.lock_free, ahead.lock_free, again.lock_free] == [
        False,
        True,
        False,
        False,
    ]
    assert ahead.filled == 3  # v4..v6 read from the event store
    assert tuple(view) == (1500, 6)
    assert postings == 5
    assert tuple(day) == (1500, 5)  # each deposit counted once
    assert projector.versions.known([account]) == {account: 6}
