"""The projector's lock-free path (docs/adr/0314) against the real read models: an
account this process has applied is written in one autocommitted statement, exactly
once however often (and from however old a version) its events come again."""

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


async def test_a_known_account_is_applied_lock_free_and_exactly_once(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
    projections: ManagedProcess,
    redis_client: redis.asyncio.Redis,
) -> None:
    projections.stop()  # this test's projector is the only one applying
    try:
        ada = await sign_up(http, "Ada Lock Free")
        account = uuid.UUID((await ada.open_account())["id"])
        for amount in (100, 200, 300, 400):
            assert (await ada.deposit(str(account), amount)).status_code == 201
        async with db.acquire() as conn:
            events = await read_ranges(conn, {account: (0, 0)})
        assert [e.version for e in events] == [1, 2, 3, 4, 5]
        projector = Projector(db, QueryCache(redis_client), consumer="lock-free-test")

        opened = await projector.apply(events[:2])  # a new account: under lock
        more = await projector.apply(events[2:4])  # known now: one statement
        again = await projector.apply(events[:4])  # redelivered
        projector.versions.remember({account: 2})  # as if this process had seen only v2
        stale = await projector.apply(events[2:])  # v3, v4 again, v5 new

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

    assert [opened.lock_free, more.lock_free, again.lock_free, stale.lock_free] == [
        False,
        True,
        True,
        True,
    ]
    assert tuple(view) == (1000, 5)
    assert postings == 4
    assert tuple(day) == (1000, 4)  # each deposit counted once
    assert projector.versions.known([account]) == {account: 5}
