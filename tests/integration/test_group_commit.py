"""Group commit (BANK_GROUP_COMMIT=1): concurrent commands share transactions, each keeps
its own outcome, and a hot account takes many commands per transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest_asyncio

from infra.local.procs import ManagedProcess
from tests.support.customers import Customer, sign_up

GROUPED = {
    "BANK_GROUP_COMMIT": "true",
    "BANK_GROUP_COMMIT_WINDOW_MS": "2",
    "BANK_MONEY_RATE_BURST": "100000",
    "BANK_MONEY_RATE_PER_SECOND": "100000",
}


@pytest_asyncio.fixture
async def grouped(api_factory: Callable[..., ManagedProcess]) -> AsyncIterator[httpx.AsyncClient]:
    api = api_factory(extra_env=GROUPED)
    async with httpx.AsyncClient(
        base_url=api.url, timeout=30.0, limits=httpx.Limits(max_connections=100)
    ) as client:
        yield client


async def transactions_of(db: asyncpg.Pool, account: str) -> list[int]:
    """Events per transaction (by xmin) on the account's stream, in order."""
    rows = await db.fetch(
        "SELECT xmin::text::bigint AS tx, count(*) AS n FROM events WHERE stream_id = $1"
        " GROUP BY 1 ORDER BY min(version)",
        uuid.UUID(account),
    )
    return [r["n"] for r in rows]


async def test_a_hot_account_takes_many_commands_per_transaction(
    grouped: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada = await sign_up(grouped, "Ada Hot")
    hot = (await ada.open_account())["id"]

    results = await asyncio.gather(*(ada.deposit(hot, 1) for _ in range(100)))

    assert all(r.status_code == 201 for r in results), [r.text for r in results][:3]
    assert await ada.balance(hot) == 100
    assert sorted(r.json()["version"] for r in results) == list(range(2, 102))
    # Every command is in exactly one transaction; how many share one depends on
    # scheduling, which tests/unit/test_write_path.py pins down with the fake unit of work.
    assert sum(await transactions_of(db, hot)) == 101


async def test_a_rule_breaker_fails_alone_in_its_group(grouped: httpx.AsyncClient) -> None:
    ada = await sign_up(grouped, "Ada Group")
    account = (await ada.open_account())["id"]
    assert (await ada.deposit(account, 100)).status_code == 201

    results = await asyncio.gather(*(ada.withdraw(account, 10) for _ in range(30)))

    codes = [r.status_code for r in results]
    assert codes.count(201) == 10 and codes.count(422) == 20, codes
    assert sorted(r.json()["balance"]["amount"] for r in results if r.status_code == 201) == list(
        range(0, 100, 10)
    )
    assert await ada.balance(account) == 0


async def test_retries_replay_and_transfers_keep_the_total(
    grouped: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada = await sign_up(grouped, "Ada Keys")
    a = (await ada.open_account())["id"]
    b = (await ada.open_account(name="Other"))["id"]
    await ada.deposit(a, 1_000)
    await ada.deposit(b, 1_000)
    key = str(uuid.uuid4())
    moves = [ada.transfer(a, b, 7) if i % 2 else ada.transfer(b, a, 5) for i in range(40)]
    same_key = [ada.deposit(b, 3, key=key) for _ in range(10)]

    results = await asyncio.gather(*moves, *same_key)

    assert all(r.status_code == 201 for r in results), [
        r.text for r in results if r.status_code != 201
    ]
    assert len({r.json()["transaction_id"] for r in results[40:]}) == 1
    assert await ada.balance(a) + await ada.balance(b) == 2_003
    assert (
        await db.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'MoneyDeposited'",
            uuid.UUID(b),
        )
        == 2
    )


async def test_someone_elses_account_is_refused_without_harming_the_group(
    grouped: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada: Customer = await sign_up(grouped, "Ada Mine")
    eve: Customer = await sign_up(grouped, "Eve Thief")
    account = (await ada.open_account())["id"]
    await ada.deposit(account, 500)

    results = await asyncio.gather(
        *(ada.deposit(account, 1) for _ in range(20)),
        *(eve.withdraw(account, 100) for _ in range(5)),
    )

    assert [r.status_code for r in results[:20]] == [201] * 20
    assert [r.status_code for r in results[20:]] == [404] * 5
    assert await ada.balance(account) == 520
    denied = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE account_id = $1 AND outcome = 'denied'",
        uuid.UUID(account),
    )
    assert denied == 5
