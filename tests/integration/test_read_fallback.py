"""Redis is the read side's cache, not its source: with Redis down, balance and
account reads answer from PostgreSQL; with Redis back, reads fill and use the
cache again, and the live feed resumes without anyone restarting anything.

Over HTTP a request without Redis fails closed on its session check (503, see
server/api/security.py) before it reaches a query; these tests drive the query
layer the API calls, against the stack's real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.application.actor import Actor
from server.application.context import AppContext
from server.queries import accounts as account_queries
from server.readmodel.cache import UNAVAILABLE_PAUSE_SECONDS, QueryCache, account_key
from server.readmodel.tables import bind, make_engine
from tests.integration.test_live import hello, recv, settle, ws_url
from tests.integration.test_projections import funded_customer, wait_projected
from tests.support.pubsub import subscribers_cut_off


@pytest.fixture
async def reads(stack: EmbeddedStack, app_db: asyncpg.Pool) -> AsyncIterator[AppContext]:
    """The query layer as the API builds it: read-model tables bound to a pool."""
    settings = Settings.from_env(stack.env())
    engine = make_engine(stack.database_url)
    engine.pool = app_db
    bind(engine)
    yield AppContext(settings, app_db)


@pytest.fixture
async def cache(stack: EmbeddedStack) -> AsyncIterator[QueryCache]:
    redis = Redis.from_url(stack.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        yield QueryCache(redis)
    finally:
        await redis.aclose()


def redis_server(stack: EmbeddedStack) -> ManagedProcess:
    proc = stack.processes.get("redis")
    if proc is None:
        pytest.skip("Redis is external here: cannot stop it")
    return proc


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (answer := await check()):
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)
    return answer


async def test_reads_answer_from_postgresql_while_redis_is_down_and_cache_again_after(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
    reads: AppContext,
    cache: QueryCache,
) -> None:
    ada, account_id = await funded_customer(http)
    r = await ada.deposit(account_id, 12_34)
    await wait_projected(db, account_id, r.json()["version"])
    account = uuid.UUID(account_id)
    actor = Actor(user_id=uuid.UUID(ada.user_id))
    before = await account_queries.get_balance(reads, actor, account, cache=cache)
    assert (before.balance.amount, before.version) == (12_34, 2)

    redis = redis_server(stack)
    redis.kill(signal.SIGKILL)
    try:
        started = time.perf_counter()
        # min_version: through the query cache (a plain read at the head would answer
        # from the state this process kept, without asking Redis at all).
        balance = await account_queries.get_balance(
            reads, actor, account, cache=cache, min_version=2
        )
        got = await account_queries.get_account(reads, actor, account, cache=cache, min_version=2)
        listed = await account_queries.list_accounts(reads, actor, cache=cache)
        elapsed = time.perf_counter() - started
        assert (balance.balance.amount, balance.version) == (12_34, 2)
        assert (got.id, got.balance.amount) == (account, 12_34)
        assert [a.id for a in listed.items] == [account]
        assert not cache.available, "the cache knows Redis is down and stops asking"
        assert elapsed < 2.0, f"reads without Redis took {elapsed:.2f}s"
    finally:
        redis.restart()

    # Redis is back (empty: the test stack keeps nothing): reads fill it again.
    await wait_for(lambda: _after_pause(cache), "the cache's pause is over")
    again = await account_queries.get_balance(reads, actor, account, cache=cache, min_version=2)
    assert again.balance.amount == 12_34
    assert await cache.redis.get(account_key(account)) is not None, "caching resumed"
    assert (await cache.get_account(account)) == await account_queries.get_account(
        reads, actor, account, cache=cache
    )


async def _after_pause(cache: QueryCache) -> bool:
    await asyncio.sleep(UNAVAILABLE_PAUSE_SECONDS / 4)
    return cache.available


async def test_the_live_feed_resumes_by_itself_after_redis_comes_back(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    redis = redis_server(stack)
    redis.kill(signal.SIGKILL)
    redis.restart()  # the API's pub/sub reader lost its connection
    # The restarted Redis forgot every session: sign up after it.
    ada, account = await funded_customer(http)
    await wait_projected(db, account, 1)
    async with connect(ws_url(api_url, ada.token)) as ws:
        await hello(ws, {account: 1})
        assert await settle(ws) == []
        r = await ada.deposit(account, 5_00)
        assert r.status_code == 201, r.text
        pushed = await recv(ws, timeout=30)
        assert (pushed["type"], pushed["version"]) == ("BalanceChanged", r.json()["version"])


async def test_what_is_published_while_the_live_feed_cannot_resubscribe_is_sent_once_it_has(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    cache: QueryCache,
) -> None:
    """Redis pub/sub keeps nothing for a subscriber that is away: what the projection
    worker publishes while the API cannot subscribe again is gone. The feed makes up
    for it from the read models once Redis has confirmed the subscriptions again."""
    ada, account = await funded_customer(http)
    await wait_projected(db, account, 1)
    async with connect(ws_url(api_url, ada.token)) as ws:
        await hello(ws, {account: 1})
        assert await settle(ws) == []
        projections.kill(signal.SIGSTOP)  # the deposit is published inside the cut
        try:
            r = await ada.deposit(account, 7_00)
            assert r.status_code == 201, r.text
            async with subscribers_cut_off(cache.redis):
                projections.kill(signal.SIGCONT)
                await wait_projected(db, account, r.json()["version"])
                await asyncio.sleep(0.3)  # published (after the commit): to no one
        finally:
            projections.kill(signal.SIGCONT)
        pushed = await recv(ws, timeout=15)
        assert (pushed["type"], pushed["version"]) == ("BalanceChanged", r.json()["version"])
        assert pushed["transaction"]["amount"]["amount"] == 7_00
