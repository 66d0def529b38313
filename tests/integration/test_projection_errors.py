"""The projection worker's error policy and progress, on the real chain
(API -> PostgreSQL -> CDC -> Kafka -> worker): its GET /health, a record it
cannot decode (dead-lettered, the partition goes on), a batch PostgreSQL always
refuses (the partition is stopped and marked failed, the others go on), and a
PostgreSQL restart under it (same batch on a new connection, no crash)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2

from infra.local.ports import free_port
from infra.local.procs import ManagedProcess, tcp_ready
from infra.local.pytest_plugin import TEST_TOPIC_PARTITIONS
from infra.local.stack import EmbeddedStack
from shared.topics import ACCOUNT_EVENTS, PROJECTIONS_DLQ
from tests.integration.test_projections import (
    funded_customer,
    run_projections_command,
    wait_all_projected,
    wait_projected,
)


def partition_of(account_id: str) -> int:
    """The account's partition of account-events (the connector's partitioner)."""
    return (murmur2(account_id.encode()) & 0x7FFFFFFF) % TEST_TOPIC_PARTITIONS


async def health(stack: EmbeddedStack, port: int | None = None) -> tuple[int, dict[str, Any]]:
    port = port or stack.ports.projections_metrics
    async with httpx.AsyncClient() as client:
        r = await client.get(f"http://127.0.0.1:{port}/health", timeout=5)
    return r.status_code, r.json()


async def metric(stack: EmbeddedStack, name: str, **labels: str) -> float | None:
    """One sample from the worker's /metrics (None when absent)."""
    async with httpx.AsyncClient() as client:
        text = (
            await client.get(f"http://127.0.0.1:{stack.ports.projections_metrics}/metrics")
        ).text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] != name:
            continue
        got = series.partition("{")[2].rstrip("}")
        if ",".join(sorted(got.split(","))) == want or (not labels and not got):
            return float(value)
    return None


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30) -> Any:
    """The first truthy answer of ``check()`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await check()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.1)


async def test_health_shows_progress_and_lag_per_partition(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http)
    r = await ada.deposit(account, 1_00)
    await wait_projected(db, account, r.json()["version"])

    async def caught_up() -> dict[str, Any] | None:
        status, doc = await health(stack)
        lag = doc["lag"].get(ACCOUNT_EVENTS, {})
        return doc if status == 200 and lag.get(str(partition_of(account))) == 0 else None

    doc = await eventually(caught_up, "the worker reports its partition caught up")
    assert doc["process"] == "projections" and doc["status"] == "ok"
    assert doc["last_progress_age_seconds"] < doc["stall_threshold_seconds"]
    assert sorted(doc["lag"][ACCOUNT_EVENTS]) == sorted(map(str, range(TEST_TOPIC_PARTITIONS)))
    assert doc["failed_partitions"] == []
    assert await metric(stack, "bank_pipeline_stalled", process="projections") == 0
    age = await metric(stack, "bank_pipeline_last_progress_age_seconds", process="projections")
    assert age is not None and age < doc["stall_threshold_seconds"]


async def test_a_worker_that_cannot_reach_postgresql_says_stalled_with_503(
    stack: EmbeddedStack,
) -> None:
    port = free_port()
    worker = stack.spawn(
        "projections-unreachable-db",
        ["-m", "server.projections"],
        ready=tcp_ready(port),
        port=port,
        extra_env={
            "BANK_PROJECTIONS_METRICS_PORT": str(port),
            "BANK_DATABASE_URL": f"postgresql://bank_app@127.0.0.1:{free_port()}/bank",
            "BANK_PIPELINE_STALL_SECONDS": "2",
        },
    )
    try:

        async def stalled() -> tuple[int, dict[str, Any]] | None:
            status, doc = await health(stack, port)
            return (status, doc) if doc["status"] == "stalled" else None

        status, doc = await eventually(stalled, "the worker says it is stalled", timeout=20)
        assert status == 503
        assert doc["last_progress_age_seconds"] > doc["stall_threshold_seconds"] == 2
        assert worker.alive, "waiting for PostgreSQL, not crashed"
    finally:
        worker.stop()


async def test_an_undecodable_record_is_dead_lettered_and_its_partition_goes_on(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http)
    await wait_projected(db, account, 1)
    before = await metric(stack, "bank_projection_dead_letters_total", topic=ACCOUNT_EVENTS) or 0
    garbage = f"not an event {uuid.uuid4()}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            ACCOUNT_EVENTS, garbage, key=account.encode(), headers=[("event_id", b"nonsense")]
        )
    finally:
        await producer.stop()
    assert sent.partition == partition_of(account)

    # The next deposit on the same partition is applied: the bad record did not stop it.
    r = await ada.deposit(account, 2_00)
    await wait_projected(db, account, r.json()["version"])

    consumer = AIOKafkaConsumer(
        PROJECTIONS_DLQ, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        letter = None
        while letter is None:
            assert time.monotonic() < deadline, "the record never reached the dead-letter topic"
            batches = await consumer.getmany(timeout_ms=500)
            letter = next((m for ms in batches.values() for m in ms if m.value == garbage), None)
    finally:
        await consumer.stop()
    headers = dict(letter.headers)
    assert letter.key == account.encode()
    assert headers["dlq.topic"] == ACCOUNT_EVENTS.encode()
    assert headers["dlq.partition"] == str(sent.partition).encode()
    assert headers["dlq.offset"] == str(sent.offset).encode()
    assert headers["dlq.consumer"] == b"bank-projections"
    assert headers["dlq.error"] and headers["event_id"] == b"nonsense"
    after = await metric(stack, "bank_projection_dead_letters_total", topic=ACCOUNT_EVENTS)
    assert after == before + 1


REFUSE_POISON = """
CREATE OR REPLACE FUNCTION test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.description = '{marker}' THEN
        RAISE EXCEPTION 'refused by the test: %', NEW.description;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_refuse_poison BEFORE INSERT ON transaction_view
    FOR EACH ROW EXECUTE FUNCTION test_refuse_poison();
"""
DROP_POISON = (
    "DROP TRIGGER IF EXISTS test_refuse_poison ON transaction_view;"
    " DROP FUNCTION IF EXISTS test_refuse_poison()"
)


async def test_a_batch_postgresql_always_refuses_stops_only_its_partition(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, poisoned = await funded_customer(http)
    bad = partition_of(poisoned)
    others = []
    while len(others) < 2:  # accounts on other partitions
        customer, account = await funded_customer(http, "Bob Babbage")
        if partition_of(account) != bad:
            others.append((customer, account))
    await wait_all_projected(db)
    marker = f"poison {uuid.uuid4()}"
    await db.execute(REFUSE_POISON.replace("{marker}", marker))
    try:
        r = await ada.deposit(poisoned, 5_00, description=marker)
        assert r.status_code == 201, r.text  # the write side took it: the event is stored

        async def failed() -> dict[str, Any] | None:
            status, doc = await health(stack)
            return doc if f"{ACCOUNT_EVENTS}[{bad}]" in doc["failed_partitions"] else None

        doc = await eventually(failed, "the partition is marked failed", timeout=60)
        assert "refused by the test" in doc["failures"][f"{ACCOUNT_EVENTS}[{bad}]"]
        assert doc["status"] == "ok", "the other partitions still make progress"
        assert (
            await metric(
                stack, "bank_projection_partition_failed", topic=ACCOUNT_EVENTS, partition=str(bad)
            )
            == 1
        )
        assert projections.alive
        # The other partitions go on.
        for customer, account in others:
            r = await customer.deposit(account, 1_00)
            await wait_projected(db, account, r.json()["version"])
        # The stopped one stays where it was: nothing of it applied, nothing skipped.
        assert (
            await db.fetchval(
                "SELECT version FROM account_view WHERE account_id = $1", uuid.UUID(poisoned)
            )
            == 1
        )
    finally:
        await db.execute(DROP_POISON)

    # The cause removed, a restart re-reads the partition from its checkpoint.
    projections.restart()
    await wait_projected(db, poisoned, 2, timeout=60)
    status, doc = await health(stack)
    assert doc["failed_partitions"] == []
    assert (
        await metric(
            stack, "bank_projection_partition_failed", topic=ACCOUNT_EVENTS, partition=str(bad)
        )
        != 1
    )
    await wait_all_projected(db)
    check = run_projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr


async def test_the_worker_rides_through_a_postgresql_restart(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http)
    r = await ada.deposit(account, 1_00)
    await wait_projected(db, account, r.json()["version"])
    worker_pid = projections.pid

    for mode in ("kill", "fast"):
        # Hold the account's view row so that the worker's batch is mid-query
        # (waiting for the lock) when PostgreSQL goes away under it.
        holder = await db.acquire()
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute(
                "SELECT 1 FROM account_view WHERE account_id = $1 FOR UPDATE", uuid.UUID(account)
            )
            r = await ada.deposit(account, 1_00)
            assert r.status_code == 201, r.text

            async def worker_waits() -> bool:
                # Nothing else waits for a lock here (pg_locks is visible to every role).
                return bool(await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"))

            await eventually(worker_waits, "the worker's batch waits for the row lock")
            await asyncio.to_thread(stack.restart_postgres, mode)
        finally:
            await db.release(holder)  # broken: the pool replaces it
        back = time.monotonic()
        await db.expire_connections()

        async def accepted() -> httpx.Response | None:
            r = await ada.deposit(account, 1_00)
            return r if r.status_code == 201 else None

        r = await eventually(accepted, f"a deposit accepted after the restart ({mode})")
        accepted_after = time.monotonic() - back
        await wait_projected(db, account, r.json()["version"], timeout=90)
        print(
            f"\nPostgreSQL restart ({mode}): a deposit accepted {accepted_after:.1f}s and"
            f" projected {time.monotonic() - back:.1f}s after the server was back"
        )
        assert projections.alive and projections.pid == worker_pid, f"worker crashed ({mode})"

    log = projections.log_path.read_text(errors="replace")
    assert log.count("connection to PostgreSQL lost") >= 2, "the batches met broken connections"

    await wait_all_projected(db)
    assert await db.fetchval(
        "SELECT count(*) = count(DISTINCT version) FROM transaction_view WHERE account_id = $1",
        uuid.UUID(account),
    )
    check = run_projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr
