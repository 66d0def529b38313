"""The API with several worker processes, as a host that runs only the API sets it
(``BANK_API_WORKERS``, docs/adr/0300): each request on a new connection, so the
kernel hands them to both processes. What ADR 0300 says still holds with several:
a write is read back whichever process answers, money taken through both at once
never overdraws, a session signed out on one is refused on the other once the
session-check cache's second has passed, and every socket gets the live push."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import asyncpg
import httpx
import psutil
import pytest_asyncio
from websockets.asyncio.client import connect

from infra.local.procs import ManagedProcess
from tests.integration.test_concurrency import fifty_withdrawals_of_ten_from_a_hundred
from tests.integration.test_live import hello, settle, until, ws_url
from tests.support.customers import sign_up

WORKERS = 2


class TwoWorkerApi:
    def __init__(self, proc: ManagedProcess, http: httpx.AsyncClient) -> None:
        self.proc, self.http = proc, http

    def workers(self) -> list[psutil.Process]:
        assert self.proc.pid is not None
        found = psutil.Process(self.proc.pid).children(recursive=True)
        # uvicorn spawns each worker; multiprocessing starts a resource tracker too.
        workers = [p for p in found if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == WORKERS, [p.cmdline() for p in found]
        return workers

    def cpu_seconds(self) -> list[float]:
        return [sum(p.cpu_times()[:2]) for p in self.workers()]


@pytest_asyncio.fixture
async def api(api_factory: Callable[..., ManagedProcess]) -> AsyncIterator[TwoWorkerApi]:
    proc = api_factory(extra_env={"BANK_API_WORKERS": str(WORKERS)})
    # No keep-alive: every request opens a connection, and either process accepts it.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=proc.url, timeout=20, limits=no_reuse) as http:
        yield TwoWorkerApi(proc, http)


async def test_each_write_is_read_back_whichever_process_answers(api: TwoWorkerApi) -> None:
    before = api.cpu_seconds()
    ada = await sign_up(api.http, "Ada Workers")
    account = (await ada.open_account())["id"]
    for n in range(1, 41):
        r = await ada.deposit(account, 1_00)
        assert r.status_code == 201, r.text
        read = await ada.account(account)
        assert read.status_code == 200, read.text
        assert read.json()["version"] >= r.json()["version"]
        assert read.json()["balance"]["amount"] == n * 1_00
    after = api.cpu_seconds()
    # Both processes answered some of the requests (each used CPU for them).
    assert all(b - a > 0.05 for a, b in zip(before, after, strict=True)), (before, after)


async def test_fifty_withdrawals_through_both_processes_never_overdraw(
    api: TwoWorkerApi, db: asyncpg.Pool
) -> None:
    await fifty_withdrawals_of_ten_from_a_hundred(await sign_up(api.http, "Ada Both"), db)


async def test_a_session_signed_out_on_one_process_is_refused_on_every_one(
    api: TwoWorkerApi,
) -> None:
    ada = await sign_up(api.http, "Ada Leaving")
    account = (await ada.open_account())["id"]
    # Each process has checked the session (and keeps the answer for a second).
    for _ in range(10):
        assert (await ada.account(account)).status_code == 200
    r = await api.http.post("/api/v1/auth/logout", headers=ada.auth)
    assert r.status_code == 204, r.text
    await asyncio.sleep(1.5)  # the session-check cache's second, and a margin
    codes = [(await ada.account(account)).status_code for _ in range(10)]
    assert codes == [401] * 10


async def test_every_socket_gets_the_push_whichever_process_holds_it(
    api: TwoWorkerApi, cdc: ManagedProcess, projections: ManagedProcess
) -> None:
    ada = await sign_up(api.http, "Ada Sockets")
    account = (await ada.open_account())["id"]
    async with AsyncExitStack() as sockets:
        held = [
            await sockets.enter_async_context(connect(ws_url(api.proc.url, ada.token)))
            for _ in range(4)  # each a new connection: the kernel spreads them
        ]
        for ws in held:
            await hello(ws)
            await settle(ws)
        for n in range(1, 4):
            r = await ada.deposit(account, 5_00)
            assert r.status_code == 201, r.text
            version = r.json()["version"]
            for ws in held:
                pushed = await until(
                    ws,
                    lambda m, v=version: m["type"] == "BalanceChanged" and m["version"] >= v,
                )
                assert pushed["balance"]["amount"] == n * 5_00
