"""A retried command returns its first answer and appends nothing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from tests.support.customers import sign_up


async def _events(db: asyncpg.Pool, account: str) -> int:
    return int(
        await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", uuid.UUID(account))
    )


async def test_a_retry_with_the_same_key_returns_the_first_answer(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada = await sign_up(http, "Ada Retry")
    account = (await ada.open_account())["id"]
    key = str(uuid.uuid4())
    first = await ada.deposit(account, 42_00, key=key)
    again = await ada.deposit(account, 42_00, key=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await ada.balance(account) == 42_00
    assert await _events(db, account) == 2


async def test_concurrent_retries_with_one_key_append_once(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada = await sign_up(http, "Ada Impatient")
    account = (await ada.open_account())["id"]
    key = str(uuid.uuid4())
    results = await asyncio.gather(*(ada.deposit(account, 5_00, key=key) for _ in range(10)))
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["transaction_id"] for r in results}) == 1
    assert await ada.balance(account) == 5_00
    assert await _events(db, account) == 2


async def test_the_same_key_with_another_body_is_refused(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada = await sign_up(http, "Ada Sloppy")
    account = (await ada.open_account())["id"]
    key = str(uuid.uuid4())
    assert (await ada.deposit(account, 10_00, key=key)).status_code == 201
    r = await ada.deposit(account, 99_00, key=key)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    r = await ada.withdraw(account, 10_00, key=key)  # another command, same key
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert await ada.balance(account) == 10_00
    assert await _events(db, account) == 2


async def test_a_refusal_is_replayed_too_and_changes_nothing(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada = await sign_up(http, "Ada Refused")
    account = (await ada.open_account())["id"]
    key = str(uuid.uuid4())
    r = await ada.withdraw(account, 1_00, key=key)
    assert r.status_code == 422 and r.json()["code"] == "insufficient_funds"
    await ada.deposit(account, 5_00)
    # The retry of the refused withdrawal gets the same refusal: one key, one outcome.
    r = await ada.withdraw(account, 1_00, key=key)
    assert r.status_code == 422 and r.json()["code"] == "insufficient_funds"
    assert await ada.balance(account) == 5_00


async def test_keys_belong_to_their_customer(http: httpx.AsyncClient) -> None:
    ada, bob = await sign_up(http, "Ada Key"), await sign_up(http, "Bob Key")
    a, b = (await ada.open_account())["id"], (await bob.open_account())["id"]
    key = str(uuid.uuid4())
    assert (await ada.deposit(a, 1_00, key=key)).status_code == 201
    assert (await bob.deposit(b, 1_00, key=key)).status_code == 201
    assert await bob.balance(b) == 1_00
