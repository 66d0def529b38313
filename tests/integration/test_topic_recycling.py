"""On a broker without retention the CDC connector recycles the topics it writes
(cdc/recycle.py, docs/adr/0320): the read models and the notification inbox must
come through every recycle with nothing lost and nothing doubled."""

from __future__ import annotations

import re
import uuid

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from shared.topics import ACCOUNT_EVENTS
from tests.integration.test_notifications import wait_inbox
from tests.integration.test_projections import (
    funded_customer,
    run_projections_command,
    wait_all_projected,
    wait_projected,
)

RECYCLE_AFTER_BATCHES = "8"
RECYCLES = 3
MAX_TRANSFERS = 90  # the inbox helper reads one page of 100


def recycles(stack: EmbeddedStack) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{stack.ports.cdc_metrics}/metrics", timeout=5).text
    found = re.findall(r'^cdc_topic_recycles_total\{outcome="(\w+)"\} (\S+)$', text, re.M)
    return {outcome: float(n) for outcome, n in found}


async def account_events_end(stack: EmbeddedStack) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(ACCOUNT_EVENTS, p) for p in range(stack.topic_partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


@pytest.fixture
def recycling_cdc(cdc: ManagedProcess, stack: EmbeddedStack):  # type: ignore[no-untyped-def]
    """The session's connector, restarted to recycle after a few dozen batches."""
    if stack.processes.get("kafka") is None:
        pytest.skip("Kafka is external here: topics are bounded by its retention")
    cdc.stop()
    cdc.env["BANK_KAFKA_RECYCLE_AFTER_BATCHES"] = RECYCLE_AFTER_BATCHES
    cdc.start()
    cdc.wait_ready(30)
    try:
        yield cdc
    finally:
        cdc.stop()
        cdc.env.pop("BANK_KAFKA_RECYCLE_AFTER_BATCHES")
        cdc.start()
        cdc.wait_ready(30)


async def test_recycled_topics_lose_and_double_nothing_for_read_models_and_inbox(
    http: httpx.AsyncClient,
    recycling_cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, ada_acc = await funded_customer(http, "Ada Lovelace")
    bob, bob_acc = await funded_customer(http, "Bob Builder")
    assert (await bob.deposit(bob_acc, 1_000_00)).status_code == 201
    # Both consumer groups are up and caught up once Ada's sign-in is in her inbox.
    assert len(await wait_inbox(ada, "new_sign_in")) == 1

    # One transfer at a time, each read into the read models before the next: each
    # goes to Kafka in batches of its own, so the connector reaches its threshold
    # (batches in one partition) every dozen transfers or so and recycles meanwhile.
    before = recycles(stack).get("recycled", 0)
    transfers = 0
    while recycles(stack).get("recycled", 0) - before < RECYCLES and transfers < MAX_TRANSFERS:
        r = await bob.transfer(bob_acc, ada_acc, 1_00 + transfers, description=f"t{transfers}")
        assert r.status_code == 201, r.text
        transfers += 1
        await wait_projected(db, bob_acc, r.json()["version"])
    outcomes = recycles(stack)
    assert outcomes.get("recycled", 0) - before >= RECYCLES, outcomes
    assert not outcomes.get("unacknowledged"), outcomes
    # The broker holds less than was sent: the old records are gone.
    assert await account_events_end(stack) < 2 * transfers

    # Every transfer is in Ada's inbox exactly once, and in the read models.
    received = await wait_inbox(ada, "money_received", transfers, timeout=60)
    assert len(received) == transfers
    await wait_all_projected(db)
    rows = await db.fetch(
        "SELECT amount FROM transaction_view WHERE account_id = $1 AND amount > 0 ORDER BY version",
        uuid.UUID(ada_acc),
    )
    assert [r["amount"] for r in rows] == [1_00 + i for i in range(transfers)]
    balance = await db.fetchval(
        "SELECT balance FROM account_view WHERE account_id = $1", uuid.UUID(ada_acc)
    )
    assert balance == sum(1_00 + i for i in range(transfers))
    check = run_projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr

    # And the pipeline follows the new topics live.
    r = await bob.transfer(bob_acc, ada_acc, 7_00, description="after")
    assert r.status_code == 201, r.text
    assert len(await wait_inbox(ada, "money_received", transfers + 1)) == transfers + 1
    assert projections.alive and notifications.alive


async def test_nothing_is_recycled_while_a_reader_is_behind(
    http: httpx.AsyncClient,
    recycling_cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    """The notification consumer is down: its group falls behind, so every recycle
    that comes due is postponed, and what it had not read is all there when it is back."""
    ada, ada_acc = await funded_customer(http, "Ada Lovelace")
    bob, bob_acc = await funded_customer(http, "Bob Builder")
    assert (await bob.deposit(bob_acc, 1_000_00)).status_code == 201
    assert len(await wait_inbox(ada, "new_sign_in")) == 1

    notifications.stop()
    try:
        before = recycles(stack)
        transfers = 0
        while recycles(stack).get("postponed", 0) == before.get("postponed", 0):
            assert transfers < MAX_TRANSFERS, recycles(stack)
            r = await bob.transfer(bob_acc, ada_acc, 1_00 + transfers)
            assert r.status_code == 201, r.text
            transfers += 1
            await wait_projected(db, bob_acc, r.json()["version"])
        assert recycles(stack).get("recycled", 0) == before.get("recycled", 0)
    finally:
        notifications.start()
        notifications.wait_ready(30)
    received = await wait_inbox(ada, "money_received", transfers, timeout=60)
    assert len(received) == len({n["id"] for n in received}) == transfers
