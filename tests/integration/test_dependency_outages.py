"""Redis or PostgreSQL goes down under a running API: the customer gets 503 with
Retry-After and a problem ``code: "unavailable"`` (never a 500), and the API
serves again by itself once the server is back, without being restarted.

Each test stops a server of the session's stack and starts it again before it
ends, and makes the session's own clients (``redis_client``, ``db``, ``app_db``)
drop their connections to the old server, so the tests after it find the stack
whole.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import httpx
import pytest
import redis.asyncio

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from server.adapters.postgres.pool import (
    ACQUIRE_TIMEOUT_SECONDS,
    CANCEL_ACK_SECONDS,
    STATEMENT_TIMEOUT_SECONDS,
)
from tests.support.customers import Customer, sign_up
from tests.support.links import HangingLink, database_url_through, port_of

DEADLINE_SECONDS = 30.0


async def _until(
    call: Callable[[], Awaitable[httpx.Response]], wanted: int, seen: list[int]
) -> httpx.Response:
    """Call until the answer has the wanted status (within the deadline); every
    status met on the way is recorded in ``seen``."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            r = await call()
        except httpx.TransportError:
            seen.append(0)  # the API itself must not go away: this fails the test below
            raise
        seen.append(r.status_code)
        if r.status_code == wanted:
            return r
        assert time.monotonic() < deadline, f"no {wanted} within {DEADLINE_SECONDS}s: {seen}"
        await asyncio.sleep(0.1)


def _assert_unavailable(r: httpx.Response, says: str = "nothing was changed") -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "unavailable" and body["status"] == 503
    assert says in body["detail"]


async def _restart_redis(stack: EmbeddedStack, session_client: redis.asyncio.Redis) -> None:
    stack.processes["redis"].restart()
    await session_client.connection_pool.disconnect()


@pytest.fixture
def own_api(api_factory: Callable[..., ManagedProcess]) -> Iterator[httpx.AsyncClient]:
    """An API instance of this test's own (its in-process caches start empty)."""
    api = api_factory()
    yield httpx.AsyncClient(base_url=api.url, timeout=30.0)


async def test_redis_down_answers_503_and_the_api_recovers_when_it_is_back(
    stack: EmbeddedStack, own_api: httpx.AsyncClient, redis_client: redis.asyncio.Redis
) -> None:
    async with own_api as http:
        ada = await sign_up(http, "Ada Outage")
        account = (await ada.open_account())["id"]
        assert (await ada.deposit(account, 100)).status_code == 201

        redis_server = stack.processes["redis"]
        redis_server.kill(signal.SIGKILL)
        try:
            seen: list[int] = []
            # A deposit needs Redis only for the session check (the rate limit falls
            # back to the process's own bucket): once the check's 1 s cache has
            # expired, it fails closed. One key: at most one of the tries applies.
            key = str(uuid.uuid4())
            r = await _until(lambda: ada.deposit(account, 100, key=key), 503, seen)
            _assert_unavailable(r)
            _assert_unavailable(await http.get("/api/v1/accounts", headers=ada.auth))
            signing_in = await http.post(
                "/api/v1/auth/token",
                data={"grant_type": "password", "username": ada.email, "password": "x" * 12},
            )
            _assert_unavailable(signing_in)
            assert set(seen) <= {201, 503}, seen
        finally:
            await _restart_redis(stack, redis_client)

        # The test stack's Redis keeps nothing across a restart: the session is gone.
        seen = []
        await _until(lambda: http.get("/api/v1/accounts", headers=ada.auth), 401, seen)
        assert set(seen) <= {200, 401, 503}, seen
        again = await sign_up(http, "Ada Back")
        r = await again.open_account()
        assert (await again.deposit(r["id"], 100)).status_code == 201
        ready = await http.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["redis"]["ok"]


async def test_a_restarted_redis_does_not_leave_stale_connections_behind(
    stack: EmbeddedStack, own_api: httpx.AsyncClient, redis_client: redis.asyncio.Redis
) -> None:
    """Connections pooled before the restart were closed by Redis: the first
    requests after it must not fail on them (health check + one retry)."""
    async with own_api as http:
        # Pooled connections: concurrent sign-ups each take one.
        await asyncio.gather(*(sign_up(http, f"Pooled {i}") for i in range(4)))
        stack.processes["redis"].kill(signal.SIGKILL)
        await _restart_redis(stack, redis_client)
        outcomes = await asyncio.gather(
            *(sign_up(http, f"Fresh {i}") for i in range(8)), return_exceptions=True
        )
        failures = [o for o in outcomes if not isinstance(o, Customer)]
        assert not failures, failures


async def test_postgres_down_answers_503_and_the_api_recovers_when_it_is_back(
    stack: EmbeddedStack, own_api: httpx.AsyncClient, db: asyncpg.Pool, app_db: asyncpg.Pool
) -> None:
    async with own_api as http:
        ada = await sign_up(http, "Ada Database")
        account = (await ada.open_account())["id"]
        assert (await ada.deposit(account, 100)).status_code == 201

        stack.postgres.stop()
        try:
            seen: list[int] = []
            key = str(uuid.uuid4())
            r = await _until(lambda: ada.deposit(account, 250, key=key), 503, seen)
            _assert_unavailable(r)
            _assert_unavailable(await ada.account(account))
            _assert_unavailable(
                await http.get(f"/api/v1/accounts/{account}/transactions", headers=ada.auth)
            )
            assert set(seen) <= {503}, seen
            ready = await http.get("/health/ready")
            assert ready.status_code == 503 and not ready.json()["checks"]["postgres"]["ok"]
        finally:
            stack.postgres.start()
            await db.expire_connections()
            await app_db.expire_connections()

        # Back: the same key is now applied once; the API was never restarted.
        seen = []
        r = await _until(lambda: ada.deposit(account, 250, key=key), 201, seen)
        assert set(seen) <= {201, 503}, seen
        assert r.json()["balance"]["amount"] == 350
        assert (await ada.deposit(account, 250, key=key)).headers.get("idempotent-replayed")


async def test_a_postgres_that_hangs_answers_503_in_bounded_time_and_the_api_goes_on(
    stack: EmbeddedStack, api_factory: Callable[..., ManagedProcess]
) -> None:
    link = HangingLink(port_of(stack.database_url))
    env = {"BANK_DATABASE_URL": database_url_through(stack.database_url, await link.start())}
    # Started from a thread: the link serves the API's connections from this loop.
    api = await asyncio.to_thread(api_factory, extra_env=env)
    async with httpx.AsyncClient(base_url=api.url, timeout=60.0) as http:
        ada = await sign_up(http, "Ada Hanging")
        account = (await ada.open_account())["id"]
        assert (await ada.deposit(account, 100)).status_code == 201

        link.flowing.clear()
        try:
            key = str(uuid.uuid4())
            # The deposit may still be applied when the database answers; the read not.
            calls = (
                (lambda: ada.deposit(account, 250, key=key), "may still take effect"),
                (lambda: ada.account(account), "nothing was changed"),
            )
            for call, says in calls:
                started = time.monotonic()
                _assert_unavailable(await call(), says)
                # A statement's wait, and the wait for its cancel's acknowledgement.
                took = time.monotonic() - started
                assert took < STATEMENT_TIMEOUT_SECONDS + CANCEL_ACK_SECONDS + 2
        finally:
            link.flowing.set()
        # The link flows again: the same key is applied once.
        seen: list[int] = []
        r = await _until(lambda: ada.deposit(account, 250, key=key), 201, seen)
        assert set(seen) <= {201, 503}, seen
        assert r.json()["balance"]["amount"] == 350
        assert await ada.balance(account) == 350
    link.close()


async def test_requests_queued_for_a_connection_to_a_hanging_postgres_get_503_soon(
    stack: EmbeddedStack, api_factory: Callable[..., ManagedProcess]
) -> None:
    """More requests than the pool has connections while PostgreSQL hangs: the ones
    holding a connection wait for their statement's timeout; the ones queued behind
    them are told at once that nothing was changed, not in turn, minutes later."""
    pool_size, queued = 2, 6
    link = HangingLink(port_of(stack.database_url))
    env = {
        "BANK_DATABASE_URL": database_url_through(stack.database_url, await link.start()),
        "BANK_DB_POOL_MIN": str(pool_size),
        "BANK_DB_POOL_MAX": str(pool_size),
    }
    api = await asyncio.to_thread(api_factory, extra_env=env)
    async with httpx.AsyncClient(base_url=api.url, timeout=60.0) as http:
        ada = await sign_up(http, "Ada Queued")
        account = (await ada.open_account())["id"]
        assert (await ada.deposit(account, 100)).status_code == 201

        async def timed_read() -> tuple[float, httpx.Response]:
            """A read that takes a pool connection of its own: with ``min_version``, it
            does not join the reads of stream heads (one statement for all of them)."""
            started = time.monotonic()
            r = await http.get(
                f"/api/v1/accounts/{account}", params={"min_version": 1}, headers=ada.auth
            )
            return time.monotonic() - started, r

        link.flowing.clear()
        try:
            answers = await asyncio.gather(*(timed_read() for _ in range(pool_size + queued)))
        finally:
            link.flowing.set()
        for _, r in answers:
            _assert_unavailable(r, "nothing was changed")
        waits = sorted(seconds for seconds, _ in answers)
        # Without a bound on the wait, each pair behind the first waited the pair
        # before it out and then a connect's timeout: 13, 18 and 23 s here.
        assert waits[-1] < STATEMENT_TIMEOUT_SECONDS + CANCEL_ACK_SECONDS + 2, waits
        assert sum(w < ACQUIRE_TIMEOUT_SECONDS + 1.5 for w in waits) >= queued, waits
        # The link flows again: the API serves again, never restarted.
        seen: list[int] = []
        r = await _until(lambda: ada.account(account), 200, seen)
        assert set(seen) <= {200, 503}, seen
        assert r.json()["balance"]["amount"] == 100
    link.close()
