"""OWASP API1:2023 Broken Object Level Authorization.

Customer A cannot read, move, or learn the existence of customer B's accounts,
transactions, analytics or live feed; every such attempt is audited as denied.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
from websockets.asyncio.client import connect

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.integration.test_live import hello, recv, settle, ws_url
from tests.integration.test_projections import wait_projected
from tests.support.customers import sign_up
from tests.support.staff import audit_rows, staff

MISSING = "00000000-0000-4000-8000-000000000000"


async def test_api1_bola_reads_of_another_customers_account_look_like_missing_ones(
    http: httpx.AsyncClient,
) -> None:
    ada, eve = await sign_up(http, "Ada Victim"), await sign_up(http, "Eve Snoop")
    account = (await ada.open_account())["id"]
    assert (await ada.deposit(account, 250_00)).status_code == 201

    for suffix in ("", "/balance", "/transactions", "/analytics"):
        own = await http.get(f"/api/v1/accounts/{account}{suffix}", headers=ada.auth)
        assert own.status_code == 200, (suffix, own.text)
        theirs = await http.get(f"/api/v1/accounts/{account}{suffix}", headers=eve.auth)
        missing = await http.get(f"/api/v1/accounts/{MISSING}{suffix}", headers=eve.auth)
        assert theirs.status_code == missing.status_code == 404, (suffix, theirs.text)
        # Same answer as for an account that does not exist: nothing to learn.
        assert theirs.json()["code"] == missing.json()["code"]
        assert theirs.json()["detail"] == missing.json()["detail"]
    listed = (await http.get("/api/v1/accounts", headers=eve.auth)).json()["items"]
    assert account not in [a["id"] for a in listed]


async def test_api1_bola_commands_on_another_customers_account_change_nothing_and_are_audited(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, eve = await sign_up(http, "Ada Victim"), await sign_up(http, "Eve Thief")
    account = (await ada.open_account())["id"]
    assert (await ada.deposit(account, 100_00)).status_code == 201
    eve_account = (await eve.open_account())["id"]
    before = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1", uuid.UUID(account)
    )

    assert (await eve.deposit(account, 1_00)).status_code == 404
    assert (await eve.withdraw(account, 1_00)).status_code == 404
    assert (await eve.transfer(account, eve_account, 50_00)).status_code == 404
    for action in ("freeze", "unfreeze", "close"):
        r = await http.post(f"/api/v1/accounts/{account}/{action}", headers=eve.auth)
        assert r.status_code == 404, (action, r.text)

    assert (
        await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", uuid.UUID(account))
        == before
    )
    assert await ada.balance(account) == 100_00

    auditor = await staff(http, stack, "auditor", "Aud Itor")
    denied = [
        r for r in await audit_rows(http, auditor, actor=eve.user_id) if r["outcome"] == "denied"
    ]
    assert sorted(r["action"] for r in denied) == sorted(
        [
            "deposit_money",
            "withdraw_money",
            "transfer_money",
            "freeze_account",
            "unfreeze_account",
            "close_account",
        ]
    )
    assert {r["reason_code"] for r in denied} == {"account_not_found"}
    assert {r["account_id"] for r in denied} == {account}


async def test_api1_bola_the_live_feed_carries_only_the_callers_accounts(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, eve = await sign_up(http, "Ada Live"), await sign_up(http, "Eve Listener")
    account = (await ada.open_account())["id"]
    eve_account = (await eve.open_account())["id"]
    await wait_projected(db, account, 1)
    await wait_projected(db, eve_account, 1)
    async with (
        connect(ws_url(api_url, ada.token)) as ada_ws,
        connect(ws_url(api_url, eve.token)) as eve_ws,
    ):
        assert (await hello(ada_ws))["type"] == "Welcome"
        # Eve asks for catch-up of Ada's account by id: it is not hers, so nothing comes.
        assert (await hello(eve_ws, last_versions={account: 0}))["type"] == "Welcome"
        assert all(m.get("account_id") != account for m in await settle(eve_ws))
        await settle(ada_ws)

        assert (await ada.deposit(account, 42_00)).status_code == 201
        assert (await eve.deposit(eve_account, 1_00)).status_code == 201

        # Ada sees her deposit (the feed works), Eve sees only her own.
        while (msg := await recv(ada_ws, 15))["type"] != "BalanceChanged":
            pass
        assert msg["account_id"] == account
        seen = []
        while not any(
            m.get("account_id") == eve_account
            and m["type"] == "BalanceChanged"
            and m["balance"]["amount"] == 1_00
            for m in seen
        ):
            seen.append(await recv(eve_ws, 15))
        await asyncio.sleep(1.0)  # anything about Ada's deposit would be here by now
        try:
            while True:
                seen.append(await recv(eve_ws, 0.5))
        except TimeoutError:
            pass
        assert all(m.get("account_id") != account for m in seen), seen
