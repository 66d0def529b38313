"""Customer A can neither see nor move customer B's money."""

from __future__ import annotations

import asyncpg
import httpx

from tests.support.customers import sign_up


async def test_a_customer_cannot_read_or_move_another_customers_money(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada, mallory = await sign_up(http, "Ada Owner"), await sign_up(http, "Mallory Thief")
    ada_account = (await ada.open_account())["id"]
    await ada.deposit(ada_account, 500_00)
    mallory_account = (await mallory.open_account())["id"]
    before = await db.fetchval("SELECT count(*) FROM events")

    r = await mallory.account(ada_account)
    assert r.status_code == 404 and r.json()["code"] == "account_not_found"
    assert (await mallory.deposit(ada_account, 1_00)).status_code == 404
    assert (await mallory.withdraw(ada_account, 1_00)).status_code == 404
    r = await mallory.transfer(ada_account, mallory_account, 100_00)
    assert r.status_code == 404
    for action in ("freeze", "unfreeze", "close"):
        r = await http.post(f"/api/v1/accounts/{ada_account}/{action}", headers=mallory.auth)
        assert r.status_code == 404, (action, r.status_code)

    # Not being allowed looks exactly like not existing: nothing to learn.
    r_missing = await mallory.account("00000000-0000-4000-8000-000000000000")
    assert r_missing.status_code == 404
    assert (await mallory.account(ada_account)).json()["detail"] == r_missing.json()["detail"]

    listed = (await http.get("/api/v1/accounts", headers=mallory.auth)).json()["items"]
    assert [a["id"] for a in listed] == [mallory_account]
    assert await db.fetchval("SELECT count(*) FROM events") == before
    assert await ada.balance(ada_account) == 500_00
