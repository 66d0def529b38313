"""The projection worker builds the read models from the real chain:
API -> PostgreSQL -> CDC -> Kafka -> worker -> PostgreSQL read models."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
import msgspec
from aiokafka import AIOKafkaProducer

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from server.projections.store import lagging_accounts, read_ranges
from shared.events import RecordedEvent
from shared.topics import topic_for_stream_type
from tests.support.customers import Customer, sign_up

BALANCE_EVENTS = ("MoneyDeposited", "MoneyWithdrawn", "MoneyTransferredOut", "MoneyTransferredIn")


async def wait_projected(
    db: asyncpg.Pool, account_id: str, version: int, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = await db.fetchval(
            "SELECT version FROM account_view WHERE account_id = $1", uuid.UUID(account_id)
        )
        if got is not None and got >= version:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"account {account_id} projected to v{got}, expected v{version}")
        await asyncio.sleep(0.02)


async def wait_all_projected(db: asyncpg.Pool, timeout: float = 60) -> None:
    """Until account_view has caught up with every account stream in the store."""
    deadline = time.monotonic() + timeout
    while True:
        async with db.acquire() as conn:
            behind = len(await lagging_accounts(conn))  # what the worker catches up
        if behind == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{behind} account(s) still behind the event store")
        await asyncio.sleep(0.05)


async def recorded_events(db: asyncpg.Pool, account_id: str, after: int = 0) -> list[RecordedEvent]:
    """The account's events after version ``after``, as the connector sends them."""
    async with db.acquire() as conn:
        return await read_ranges(conn, {uuid.UUID(account_id): (after, 0)})


async def send_to_kafka(stack: EmbeddedStack, events: list[RecordedEvent]) -> None:
    """Publish ``events`` on their domain topic as the connector does."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(
                topic_for_stream_type(e.stream_type),
                msgspec.json.encode(e),
                key=str(e.stream_id).encode(),
                headers=[("event_id", str(e.event_id).encode())],
            )
    finally:
        await producer.stop()


def run_projections_command(stack: EmbeddedStack, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.projections", command],
        env=stack.process_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def funded_customer(
    http: httpx.AsyncClient, name: str = "Ada Lovelace"
) -> tuple[Customer, str]:
    customer = await sign_up(http, name)
    account = (await customer.open_account())["id"]
    return customer, account


async def test_every_kind_of_posting_reaches_the_read_models(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, main = await funded_customer(http)
    savings = (await ada.open_account(name="Savings"))["id"]
    assert (await ada.deposit(main, 100_00, description="salary")).status_code == 201
    assert (await ada.withdraw(main, 20_00)).status_code == 201
    r = await ada.transfer(main, savings, 30_00, description="put aside")
    assert r.status_code == 201, r.text
    await wait_projected(db, main, r.json()["version"])
    await wait_projected(db, savings, 2)

    view = await db.fetchrow("SELECT * FROM account_view WHERE account_id = $1", uuid.UUID(main))
    assert (view["balance"], view["version"], view["status"]) == (50_00, 4, "active")
    assert str(view["owner_id"]) == ada.user_id and view["currency"] == "EUR"
    rows = await db.fetch(
        "SELECT version, kind, amount, balance_after, counterparty_account_id, description"
        " FROM transaction_view WHERE account_id = $1 ORDER BY version",
        uuid.UUID(main),
    )
    assert [tuple(r) for r in rows] == [
        (2, "deposit", 100_00, 100_00, None, "salary"),
        (3, "withdrawal", 20_00, 80_00, None, ""),
        (4, "transfer_out", 30_00, 50_00, uuid.UUID(savings), "put aside"),
    ]
    day = await db.fetchrow(
        "SELECT money_in, money_out, count, closing_balance FROM analytics_view"
        " WHERE account_id = $1",
        uuid.UUID(main),
    )
    assert tuple(day) == (100_00, 50_00, 3, 50_00)
    incoming = await db.fetchrow(
        "SELECT kind, counterparty_account_id FROM transaction_view WHERE account_id = $1",
        uuid.UUID(savings),
    )
    assert tuple(incoming) == ("transfer_in", uuid.UUID(main))

    await wait_all_projected(db)
    check = run_projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr


async def test_redelivered_records_change_nothing(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http)
    for amount in (10_00, 20_00, 30_00):
        assert (await ada.deposit(account, amount)).status_code == 201
    await wait_projected(db, account, 4)

    # Kafka delivers at least once: send every record of this account again.
    records = await recorded_events(db, account)
    assert len(records) == 4
    for _ in range(2):
        await send_to_kafka(stack, records)
    # A later deposit on the same partition proves the duplicates were consumed.
    r = await ada.deposit(account, 1)
    await wait_projected(db, account, r.json()["version"])

    view = await db.fetchrow(
        "SELECT balance, version FROM account_view WHERE account_id = $1", uuid.UUID(account)
    )
    assert tuple(view) == (60_01, 5)
    postings = await db.fetchval(
        "SELECT count(*) FROM transaction_view WHERE account_id = $1", uuid.UUID(account)
    )
    assert postings == 4
    day = await db.fetchrow(
        "SELECT money_in, count FROM analytics_view WHERE account_id = $1", uuid.UUID(account)
    )
    assert tuple(day) == (60_01, 4)


async def test_a_version_missing_from_kafka_is_read_from_the_event_store(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http)
    assert (await ada.deposit(account, 5_00)).status_code == 201
    await wait_projected(db, account, 2)

    # An event that never reaches Kafka (the connector is frozen meanwhile) ...
    lost = {
        "type": "MoneyDeposited",
        "account_id": account,
        "transaction_id": str(uuid.uuid4()),
        "amount": 7_00,
        "currency": "EUR",
        "description": "lost on the way",
        "balance_after": 12_00,
    }
    assert cdc.pid is not None
    os.kill(cdc.pid, signal.SIGSTOP)
    try:
        await db.execute(
            "INSERT INTO events (event_id, stream_id, stream_type, version, event_type, payload)"
            " VALUES ($1, $2, 'account', 3, 'MoneyDeposited', $3::jsonb)",
            uuid.uuid4(),
            uuid.UUID(account),
            msgspec.json.encode(lost).decode(),
        )
        # ... is noticed when version 4 arrives (sent here by hand), and is not skipped.
        r = await ada.deposit(account, 1_00)
        assert r.status_code == 201 and r.json()["version"] == 4
        await send_to_kafka(stack, await recorded_events(db, account, after=3))
        await wait_projected(db, account, 4)
    finally:
        os.kill(cdc.pid, signal.SIGCONT)  # it then sends v3 and v4 again: nothing changes
    rows = await db.fetch(
        "SELECT version, amount, description FROM transaction_view WHERE account_id = $1"
        " ORDER BY version",
        uuid.UUID(account),
    )
    assert [tuple(r) for r in rows] == [(2, 5_00, ""), (3, 7_00, "lost on the way"), (4, 1_00, "")]
    assert (
        await db.fetchval(
            "SELECT balance FROM account_view WHERE account_id = $1", uuid.UUID(account)
        )
        == 13_00
    )


async def _deposit_many(customers: list[tuple[Customer, str]], per_account: int) -> int:
    sem = asyncio.Semaphore(8)

    async def one(c: Customer, account: str, i: int) -> None:
        async with sem:
            r = await c.deposit(account, 100 + i)
            assert r.status_code == 201, r.text

    await asyncio.gather(*(one(c, a, i) for c, a in customers for i in range(per_account)))
    return len(customers) * per_account


async def test_worker_killed_mid_batch_restarts_without_doubling_a_posting(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    customers = [await funded_customer(http, f"Kim {i}") for i in range(6)]
    ids = [uuid.UUID(a) for _, a in customers]
    await wait_all_projected(db)

    load = asyncio.create_task(_deposit_many(customers, 100))
    # Kill it while the projection is busy: some, not all, postings applied.
    deadline = time.monotonic() + 30
    while (
        await db.fetchval("SELECT count(*) FROM transaction_view WHERE account_id = ANY($1)", ids)
        < 60
    ):
        assert time.monotonic() < deadline, "the worker applied nothing under load"
        await asyncio.sleep(0.005)
    projections.kill()
    applied_at_kill = await db.fetchval(
        "SELECT count(*) FROM transaction_view WHERE account_id = ANY($1)", ids
    )
    total = await load
    print(f"\nworker SIGKILLed with {applied_at_kill} of {total} postings applied")
    assert applied_at_kill < total

    projections.restart()
    await wait_all_projected(db)
    postings = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT transaction_id) AS distinct_ids"
        " FROM transaction_view WHERE account_id = ANY($1)",
        ids,
    )
    stored = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = ANY($1) AND event_type = ANY($2)",
        ids,
        list(BALANCE_EVENTS),
    )
    assert postings["n"] == postings["distinct_ids"] == stored == total
    check = run_projections_command(stack, "check")
    print(check.stdout.strip().splitlines()[-1])
    assert check.returncode == 0, check.stdout + check.stderr


async def _snapshot(db: asyncpg.Pool) -> dict[str, list[Any]]:
    return {
        "account_view": [
            tuple(r)
            for r in await db.fetch(
                "SELECT account_id, owner_id, name, currency, status, balance, version, opened_at,"
                " updated_at FROM account_view ORDER BY account_id"
            )
        ],
        "transaction_view": [
            tuple(r)
            for r in await db.fetch("SELECT * FROM transaction_view ORDER BY account_id, version")
        ],
        "analytics_view": [
            tuple(r)
            for r in await db.fetch("SELECT * FROM analytics_view ORDER BY account_id, day")
        ],
    }


async def test_a_rebuild_from_scratch_equals_the_incremental_read_models(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, main = await funded_customer(http)
    bob, other = await funded_customer(http, "Bob Babbage")
    for i in range(20):
        assert (await ada.deposit(main, 10_00 + i)).status_code == 201
    assert (await ada.withdraw(main, 5_00)).status_code == 201
    assert (await ada.transfer(main, other, 7_00)).status_code == 201
    renamed = await http.patch(f"/api/v1/accounts/{other}", json={"name": "Rent"}, headers=bob.auth)
    assert renamed.status_code == 200, renamed.text
    spare = (await bob.open_account(name="Spare"))["id"]
    r = await http.post(f"/api/v1/accounts/{spare}/close", headers=bob.auth)
    assert r.status_code == 200, r.text
    await wait_all_projected(db)
    incremental = await _snapshot(db)
    assert incremental["transaction_view"], "nothing was projected"
    assert any("Rent" in row for row in incremental["account_view"]), "the rename was not projected"

    started = time.perf_counter()
    rebuilt = run_projections_command(stack, "rebuild")
    elapsed = time.perf_counter() - started
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    print(f"\n{rebuilt.stdout.strip()} in {elapsed:.2f}s (process included)")

    after = await _snapshot(db)
    for table in incremental:
        assert after[table] == incremental[table], f"{table} differs after a rebuild"
    check = run_projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr


async def test_check_reports_a_tampered_read_model(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http)
    r = await ada.deposit(account, 3_00)
    await wait_projected(db, account, r.json()["version"])
    await wait_all_projected(db)
    await db.execute(
        "UPDATE account_view SET balance = balance + 1 WHERE account_id = $1", uuid.UUID(account)
    )
    try:
        check = run_projections_command(stack, "check")
        assert check.returncode == 1
        assert f"{account}: balance 301 in view, 300 in store" in check.stdout
    finally:
        rebuilt = run_projections_command(stack, "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
    assert run_projections_command(stack, "check").returncode == 0
