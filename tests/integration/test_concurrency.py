"""Concurrent commands on one account: never below zero, never doubled."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from tests.support.customers import Customer, sign_up


async def fifty_withdrawals_of_ten_from_a_hundred(ada: Customer, db: asyncpg.Pool) -> None:
    """Fifty withdrawals of 10 at once from a new account of ``ada`` holding 100: ten
    are made, one per balance from 90 down to 0, and forty refused as insufficient."""
    account = (await ada.open_account())["id"]
    assert (await ada.deposit(account, 100)).status_code == 201

    results = await asyncio.gather(*(ada.withdraw(account, 10) for _ in range(50)))
    codes = [r.status_code for r in results]

    assert codes.count(201) == 10, [r.text for r in results if r.status_code not in (201, 422)]
    assert codes.count(422) == 40, codes
    assert all(r.json()["code"] == "insufficient_funds" for r in results if r.status_code == 422)
    assert sorted(r.json()["balance"]["amount"] for r in results if r.status_code == 201) == list(
        range(0, 100, 10)
    )
    assert await ada.balance(account) == 0
    withdrawn = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'MoneyWithdrawn'",
        uuid.UUID(account),
    )
    assert withdrawn == 10


async def test_fifty_concurrent_withdrawals_of_ten_from_a_hundred(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    await fifty_withdrawals_of_ten_from_a_hundred(await sign_up(http, "Ada Concurrent"), db)


async def test_concurrent_transfers_in_both_directions_keep_the_total(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada Busy")
    a = (await ada.open_account())["id"]
    b = (await ada.open_account(name="Other"))["id"]
    await ada.deposit(a, 1_000)
    await ada.deposit(b, 1_000)

    moves = [ada.transfer(a, b, 7) if i % 2 else ada.transfer(b, a, 5) for i in range(40)]
    results = await asyncio.gather(*moves)
    assert all(r.status_code == 201 for r in results), [
        r.text for r in results if r.status_code != 201
    ]
    assert await ada.balance(a) + await ada.balance(b) == 2_000
    assert await ada.balance(a) == 1_000 - 20 * 7 + 20 * 5
