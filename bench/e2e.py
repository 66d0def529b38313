"""Command → read model → WebSocket push, end to end.

A fresh customer opens a few accounts and listens on WS /api/v1/ws; a teller's cash
deposits into them (the production deposit, as in the ``deposits`` scenario: docs/adr/
0205-bench-deposit-is-a-tellers-cash-deposit.md) are sent at a fixed rate, and each
one's latency runs from the moment it was due to the moment a BalanceChanged at (or
past) its stream version reaches the socket.
"""

from __future__ import annotations

import asyncio
import bisect
import time
import uuid
from collections import Counter, defaultdict

import aiohttp
import msgspec

from bench.fixtures import Customer, open_accounts, sign_up
from bench.loadgen import Call, open_loop
from bench.raw_http import RawHttp
from bench.stats import Summary, summarize
from shared.messages import BalanceChanged, Hello, ServerMessage, Welcome

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(ServerMessage)
# Keep-alive connections of the deposit sender (at most this many deposits in flight):
# room for 1,000/s at over 100 ms each, so the sender never queues what it measures.
SENDER_CONNECTIONS = 128


class _Accepted(msgspec.Struct):
    version: int


_accepted = msgspec.json.Decoder(_Accepted)


Pushes = dict[str, list[tuple[int, float]]]  # account -> (version, arrival time), in order
Sent = list[tuple[str, int, float]]  # account, version, due time


async def run_e2e(
    api: str,
    http: aiohttp.ClientSession,
    teller_token: str,
    *,
    rate: float,
    seconds: float,
    accounts: int = 20,
    wait: float = 15.0,
) -> Summary:
    who: Customer = await sign_up(http, api, "e2e")
    await open_accounts(http, api, who, accounts)
    pushes: Pushes = defaultdict(list)
    sent: Sent = []
    errors: Counter[str] = Counter()
    ws_url = api.replace("http", "ws", 1) + f"/api/v1/ws?token={who.token}"
    async with http.ws_connect(ws_url, heartbeat=None, max_msg_size=0) as ws:
        await _say_hello(ws)
        reader_task = asyncio.create_task(_collect_pushes(ws, pushes))
        await asyncio.sleep(1.0)  # let the catch-up of the opening deposits pass
        client = RawHttp(api, SENDER_CONNECTIONS)
        await client.start()
        try:
            deposit = _deposit_call(client, who, teller_token, sent)
            run = await open_loop(deposit, rate=rate, duration=seconds, drain=10)
        finally:
            await client.close()
        errors.update(run.errors)
        await _wait_for_last_pushes(pushes, sent, len(who.accounts), wait)
        reader_task.cancel()
    latencies = _push_latencies(sent, pushes, errors)
    return summarize(
        scenario="e2e_push",
        system="ours",
        mode="fixed",
        latencies=latencies,
        errors=errors,
        seconds=run.seconds,
        offered_rate=rate,
        note="deposit over HTTP -> CDC -> Kafka -> projection -> Redis -> WS",
    )


async def _say_hello(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_str(_enc.encode(Hello()).decode())
    first = _dec.decode((await ws.receive(timeout=10)).data)
    if not isinstance(first, Welcome):
        raise RuntimeError(f"expected Welcome, got {first!r}")


async def _collect_pushes(ws: aiohttp.ClientWebSocketResponse, pushes: Pushes) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            continue
        m = _dec.decode(msg.data)
        if isinstance(m, BalanceChanged):
            pushes[str(m.account_id)].append((m.version, time.perf_counter()))


def _deposit_call(client: RawHttp, who: Customer, teller_token: str, sent: Sent) -> Call:
    """A teller's cash deposits round-robin over ``who``'s accounts, appending each
    accepted one to ``sent``."""
    body = _enc.encode({"amount": 1})
    headers = {"Authorization": f"Bearer {teller_token}", "Content-Type": "application/json"}

    async def deposit(i: int) -> str | None:
        due = time.perf_counter()
        account = who.accounts[i % len(who.accounts)]
        path = f"/api/v1/accounts/{account}/deposits"
        raw = client.post(path, {**headers, "Idempotency-Key": str(uuid.uuid4())}, body)
        status, answer = await client.request(raw)
        if status != 201:
            return f"http_{status}"
        sent.append((account, _accepted.decode(answer).version, due))
        return None

    return deposit


async def _wait_for_last_pushes(pushes: Pushes, sent: Sent, last: int, wait: float) -> None:
    """Wait up to ``wait`` seconds for the pushes of the ``last`` deposits sent."""
    deadline = time.perf_counter() + wait
    while time.perf_counter() < deadline:
        if all(pushes[a] and pushes[a][-1][0] >= v for a, v, _ in sent[-last:]):
            return
        await asyncio.sleep(0.1)


def _push_latencies(sent: Sent, pushes: Pushes, errors: Counter[str]) -> list[float]:
    """Due time to the first push at or past each deposit's version; a deposit with no
    such push counts as 'push_missing' in ``errors``."""
    versions = {account: [v for v, _ in got] for account, got in pushes.items()}
    latencies = []
    for account, version, due in sent:
        got = pushes.get(account, [])
        # Each account's versions listed once: listed per deposit, a 3-minute run at
        # 900/s took minutes here (every deposit copied its account's whole list).
        k = bisect.bisect_left(versions.get(account, []), version)
        if k < len(got):
            latencies.append(got[k][1] - due)
        else:
            errors["push_missing"] += 1
    return latencies
