"""Live balances over WS /api/v1/ws: pushed fast after a deposit, to every API
instance, only to the owner, with catch-up after a reconnect."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infra.local.procs import ManagedProcess
from tests.integration.test_projections import funded_customer, wait_projected
from tests.support.customers import sign_up

_encoder = msgspec.json.Encoder()


def ws_url(api_url: str, token: str | None = None) -> str:
    url = api_url.replace("http", "ws", 1) + "/api/v1/ws"
    return f"{url}?token={token}" if token else url


async def recv(
    ws: ClientConnection, timeout: float = 10, *, notifications: bool = False
) -> dict[str, Any]:
    """The next message of the live feed. A NotificationReceived is skipped unless asked
    for: the notification consumer pushes one whenever a notification is due (a new
    customer's sign-in, for one), up to about half a second after its event
    (docs/adr/0317), so a test of the balance feed cannot count on when it lands."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(deadline - time.monotonic(), 0.01)
        msg: dict[str, Any] = msgspec.json.decode(await asyncio.wait_for(ws.recv(), left))
        if notifications or msg.get("type") != "NotificationReceived":
            return msg


async def hello(
    ws: ClientConnection, last_versions: dict[str, int] | None = None, token: str | None = None
) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "Hello", "last_versions": last_versions or {}}
    if token:
        msg["token"] = token
    await ws.send(_encoder.encode(msg).decode())
    return await recv(ws)


async def settle(ws: ClientConnection) -> list[dict[str, Any]]:
    """Everything sent before a Pong: the server answers a Ping only after the
    catch-up, so this returns the catch-up messages."""
    await ws.send('{"type": "Ping"}')
    got = []
    while (msg := await recv(ws))["type"] != "Pong":
        got.append(msg)
    return got


async def until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        msg = await recv(ws, max(deadline - time.monotonic(), 0.01))
        if pred(msg):
            return msg


async def test_a_deposit_is_pushed_within_500_ms_p99(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, account = await funded_customer(http)
    await wait_projected(db, account, 1)
    async with connect(ws_url(api_url, ada.token)) as ws:
        welcome = await hello(ws, {account: 1})
        assert welcome == {"type": "Welcome", "user_id": ada.user_id}
        assert await settle(ws) == []
        latencies: list[float] = []
        for i in range(201):
            r = await ada.deposit(account, 1_00)
            answered = time.perf_counter()
            assert r.status_code == 201, r.text
            version = r.json()["version"]
            pushed = await until(
                ws,
                lambda m, version=version: (
                    m["type"] == "BalanceChanged"
                    and m["account_id"] == account
                    and m["version"] >= version
                ),
            )
            if i == 0:
                continue  # warm-up
            latencies.append(time.perf_counter() - answered)
            assert pushed["version"] == version
            assert pushed["balance"] == r.json()["balance"]
            assert pushed["transaction"]["transaction_id"] == r.json()["transaction_id"]
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"\npush latency after the deposit response over {len(latencies)} deposits:"
        f" p50 {statistics.median(latencies) * 1000:.1f} ms,"
        f" p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms,"
        f" p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    assert p99 < 0.5


async def test_reconnecting_client_gets_what_it_missed_then_live_messages(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, account = await funded_customer(http)
    await wait_projected(db, account, 1)
    async with connect(ws_url(api_url, ada.token)) as ws:
        await hello(ws)
        first = await recv(ws)  # catch-up from nothing: the current state
        assert (first["type"], first["version"], first["balance"]["amount"]) == (
            "BalanceChanged",
            1,
            0,
        )
        status = await recv(ws)
        assert (status["type"], status["status"]) == ("AccountStatusChanged", "active")

    # Offline: three deposits happen (another device, say).
    amounts = [11_00, 22_00, 33_00]
    for amount in amounts:
        assert (
            await ada.deposit(account, amount, description=f"offline {amount}")
        ).status_code == 201
    await wait_projected(db, account, 4)

    async with connect(ws_url(api_url)) as ws:
        await hello(ws, {account: 1}, token=ada.token)  # token in Hello this time
        missed = [await recv(ws) for _ in range(3)]
        assert [
            (m["type"], m["version"], m["transaction"]["amount"]["amount"], m["balance"]["amount"])
            for m in missed
        ] == [
            ("BalanceChanged", 2, 11_00, 11_00),
            ("BalanceChanged", 3, 22_00, 33_00),
            ("BalanceChanged", 4, 33_00, 66_00),
        ]
        assert missed[0]["transaction"]["description"] == "offline 1100"
        status = await recv(ws)
        assert (status["type"], status["version"]) == ("AccountStatusChanged", 4)

        r = await ada.deposit(account, 4_00)
        live = await recv(ws)
        assert (live["type"], live["version"], live["balance"]["amount"]) == (
            "BalanceChanged",
            5,
            70_00,
        )
        assert r.json()["version"] == 5


async def test_pushes_reach_sockets_on_another_api_instance_and_only_the_owner(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    api_factory: Callable[..., ManagedProcess],
) -> None:
    second_api = api_factory()
    ada, account = await funded_customer(http)
    bob, bobs = await funded_customer(http, "Bob Babbage")
    await wait_projected(db, account, 1)
    await wait_projected(db, bobs, 1)
    assert second_api.url
    async with (
        connect(ws_url(second_api.url, ada.token)) as ws,
        connect(ws_url(second_api.url, bob.token)) as bobs_ws,
    ):
        await hello(ws, {account: 1})
        assert await settle(ws) == []
        await hello(bobs_ws, {bobs: 1})
        assert await settle(bobs_ws) == []
        r = await ada.deposit(account, 9_00)  # through the first API instance
        pushed = await recv(ws)
        assert (pushed["account_id"], pushed["version"]) == (account, r.json()["version"])

        r = await bob.deposit(bobs, 1_00)
        version = r.json()["version"]
        # Once Bob's own socket on the same instance has his push, that instance
        # has handled the message: a copy meant for Ada would be queued by now.
        await until(bobs_ws, lambda m: m["type"] == "BalanceChanged" and m["version"] == version)
        await ws.send('{"type": "Ping"}')
        assert await recv(ws) == {"type": "Pong"}, "Ada must hear nothing of Bob's account"


async def test_a_socket_without_a_valid_token_is_refused(
    http: httpx.AsyncClient,
    api_url: str,
    projections: ManagedProcess,
) -> None:
    for token in (None, "not-a-jwt"):
        async with connect(ws_url(api_url)) as ws:
            answer = await hello(ws, token=token)
            assert answer["type"] == "Error" and answer["code"] == "unauthorized"
            try:
                await recv(ws)
                raise AssertionError("the socket should be closed")
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4401

    # The first message must be Hello; a binary frame (which reads as no text) and JSON of
    # another shape are told so in words, with what Hello looks like.
    for first, words in (
        ('{"type": "Ping"}', "The first message must be Hello, like {"),
        (b"\x00\x01", "Send JSON in text frames, like {"),
        ('{"type": "hello"}', "The message is not one of this feed's (Invalid value 'hello'"),
    ):
        async with connect(ws_url(api_url)) as ws:
            await ws.send(first)
            answer = await recv(ws)
            assert answer["type"] == "Error" and answer["code"] == "invalid_message", answer
            assert answer["detail"].startswith(words) and '"type": "Hello"' in answer["detail"]

    someone = await sign_up(http, "Eve Unbanked")
    async with connect(ws_url(api_url, someone.token)) as ws:  # unknown accounts are ignored
        assert (await hello(ws, {str(uuid.uuid4()): 5}))["type"] == "Welcome"
        await ws.send('{"type": "Ping"}')
        assert await recv(ws) == {"type": "Pong"}
        await ws.send(b"\x00")  # after Hello, a bad message is answered and the feed goes on
        answer = await recv(ws)
        assert answer["code"] == "invalid_message", answer
        assert answer["detail"].startswith("Send JSON in text frames"), answer
        await ws.send('{"type": "Ping"}')
        assert await recv(ws) == {"type": "Pong"}


async def test_a_pushed_transfer_names_the_other_account_by_its_number_live_and_caught_up(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, adas = await funded_customer(http)
    bob, bobs = await funded_customer(http, "Bob Example")
    assert (await ada.deposit(adas, 50_00)).status_code == 201
    await wait_projected(db, adas, 2)
    await wait_projected(db, bobs, 1)
    numbers = {
        a: (await c.account(a)).json()["account_number"] for c, a in ((ada, adas), (bob, bobs))
    }

    def transfer_of(account: str) -> Callable[[dict[str, Any]], bool]:
        return lambda m: (
            m["type"] == "BalanceChanged"
            and m["account_id"] == account
            and (m.get("transaction") or {}).get("kind", "").startswith("transfer")
        )

    async with (
        connect(ws_url(api_url, ada.token)) as ada_ws,
        connect(ws_url(api_url, bob.token)) as bob_ws,
    ):
        for ws in (ada_ws, bob_ws):
            await hello(ws)
            await settle(ws)
        assert (await ada.transfer(adas, bobs, 20_00)).status_code == 201
        sent = (await until(ada_ws, transfer_of(adas)))["transaction"]
        received = (await until(bob_ws, transfer_of(bobs)))["transaction"]
    # Live: each side names the other's number, as history does.
    assert (sent["kind"], sent["counterparty_account_number"]) == ("transfer_out", numbers[bobs])
    assert (received["kind"], received["counterparty_account_number"]) == (
        "transfer_in",
        numbers[adas],
    )
    # Caught up after a reconnect: the same, for every account behind (one lookup for
    # all of them; each posting keeps its own account's other side).
    savings = (await ada.open_account(name="Savings"))["id"]
    numbers[savings] = (await ada.account(savings)).json()["account_number"]
    r = await ada.transfer(adas, savings, 5_00)
    assert r.status_code == 201, r.text
    await wait_projected(db, adas, 4)
    await wait_projected(db, savings, 2)
    async with connect(ws_url(api_url, ada.token)) as ws:
        await hello(ws, {adas: 2})
        caught_up = await settle(ws)
    named = [
        (m["account_id"], m["version"], m["transaction"]["counterparty_account_number"])
        for m in caught_up
        if m["type"] == "BalanceChanged" and m.get("transaction")
    ]
    assert sorted(named) == sorted(
        [
            (adas, 3, numbers[bobs]),
            (adas, 4, numbers[savings]),
            (savings, 2, numbers[adas]),
        ]
    )
