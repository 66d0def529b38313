"""On a broker without retention the CDC connector recycles the topics it writes
(cdc/recycle.py, docs/adr/0320): the read models and the notification inbox must
come through every recycle with nothing lost and nothing doubled."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cdc.recycle import RETRY_AFTER_SECONDS
from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from shared.topics import ACCOUNT_EVENTS, KEPT_TOPICS, topic_specs
from tests.integration.test_notifications import wait_inbox
from tests.integration.test_projections import (
    funded_customer,
    run_projections_command,
    wait_all_projected,
    wait_projected,
)
from tests.support.customers import Customer

RECYCLE_AFTER_BATCHES = 8
RECYCLES = 3
MAX_TRANSFERS = 90  # the inbox helper reads one page of 100


def recycles(stack: EmbeddedStack) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{stack.ports.cdc_metrics}/metrics", timeout=5).text
    found = re.findall(r'^cdc_topic_recycles_total\{outcome="(\w+)"\} (\S+)$', text, re.M)
    return {outcome: float(n) for outcome, n in found}


async def end_offsets(stack: EmbeddedStack, tps: list[TopicPartition]) -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap)
    await consumer.start()
    try:
        return list((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def account_events_end(stack: EmbeddedStack) -> int:
    n = stack.topic_partitions
    return sum(await end_offsets(stack, [TopicPartition(ACCOUNT_EVENTS, p) for p in range(n)]))


async def most_held(stack: EmbeddedStack) -> int:
    """Records in the fullest partition the connector recycles: what a connector
    that starts now counts as batches already there (at least as many as batches)."""
    specs = [s for s in topic_specs(stack.topic_partitions) if s.name not in KEPT_TOPICS]
    tps = [TopicPartition(s.name, p) for s in specs for p in range(s.partitions)]
    return max(await end_offsets(stack, tps))


async def restart_cdc(cdc: ManagedProcess, stack: EmbeddedStack, after_batches: int | None) -> None:
    """Restart the session's connector, recycling after ``after_batches`` (None: as
    the session runs it, never). A connector told to recycle counts what the broker
    holds as it starts: if that is due already, this waits until that recycle is over."""
    due = after_batches is not None and await most_held(stack) >= after_batches
    cdc.stop()
    if after_batches is None:
        cdc.env.pop("BANK_KAFKA_RECYCLE_AFTER_BATCHES", None)
    else:
        cdc.env["BANK_KAFKA_RECYCLE_AFTER_BATCHES"] = str(after_batches)
    cdc.start()
    cdc.wait_ready(30)
    if due:
        # The metrics are the new process's. Its recycle is postponed if a group is
        # not at the end in time, and tried again RETRY_AFTER_SECONDS later.
        deadline = time.monotonic() + RETRY_AFTER_SECONDS + 30
        while not (recycles(stack).get("recycled") or recycles(stack).get("unacknowledged")):
            assert time.monotonic() < deadline, f"the recycle that was due: {recycles(stack)}"
            await asyncio.sleep(0.2)


async def ada_and_bob(http: httpx.AsyncClient) -> tuple[Customer, str, Customer, str]:
    """Ada and Bob, Bob funded; both consumer groups are up and caught up once Ada's
    sign-in is in her inbox."""
    ada, ada_acc = await funded_customer(http, "Ada Lovelace")
    bob, bob_acc = await funded_customer(http, "Bob Builder")
    assert (await bob.deposit(bob_acc, 1_000_00)).status_code == 201
    assert len(await wait_inbox(ada, "new_sign_in")) == 1
    return ada, ada_acc, bob, bob_acc


async def transfer_projected(
    db: asyncpg.Pool, bob: Customer, bob_acc: str, ada_acc: str, amount: int, description: str = ""
) -> None:
    """One transfer from Bob to Ada, read into the read models before the next: so each
    goes to Kafka in batches of its own."""
    r = await bob.transfer(bob_acc, ada_acc, amount, description=description)
    assert r.status_code == 201, r.text
    await wait_projected(db, bob_acc, r.json()["version"])


@pytest.fixture
async def recycling_cdc(
    cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
    stack: EmbeddedStack,
) -> AsyncIterator[ManagedProcess]:
    """The session's connector, restarted to recycle after a few dozen batches. Both
    consumer groups run first: a recycle that is due at once waits for them."""
    if stack.processes.get("kafka") is None:
        pytest.skip("Kafka is external here: topics are bounded by its retention")
    await restart_cdc(cdc, stack, RECYCLE_AFTER_BATCHES)
    try:
        yield cdc
    finally:
        await restart_cdc(cdc, stack, None)


async def test_recycled_topics_lose_and_double_nothing_for_read_models_and_inbox(
    http: httpx.AsyncClient,
    recycling_cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, ada_acc, bob, bob_acc = await ada_and_bob(http)

    # One transfer at a time, each read into the read models before the next: each
    # goes to Kafka in batches of its own, so the connector reaches its threshold
    # (batches in one partition) every dozen transfers or so and recycles meanwhile.
    before = recycles(stack).get("recycled", 0)
    transfers = 0
    while recycles(stack).get("recycled", 0) - before < RECYCLES and transfers < MAX_TRANSFERS:
        await transfer_projected(db, bob, bob_acc, ada_acc, 1_00 + transfers, f"t{transfers}")
        transfers += 1
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
    ada, ada_acc, bob, bob_acc = await ada_and_bob(http)

    notifications.stop()
    try:
        before = recycles(stack)
        transfers = 0
        while recycles(stack).get("postponed", 0) == before.get("postponed", 0):
            assert transfers < MAX_TRANSFERS, recycles(stack)
            await transfer_projected(db, bob, bob_acc, ada_acc, 1_00 + transfers)
            transfers += 1
        assert recycles(stack).get("recycled", 0) == before.get("recycled", 0)
    finally:
        notifications.start()
        notifications.wait_ready(30)
    received = await wait_inbox(ada, "money_received", transfers, timeout=60)
    assert len(received) == len({n["id"] for n in received}) == transfers


async def test_a_restarted_connector_counts_what_the_broker_already_holds(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    """What an earlier session of the connector sent is in the broker still: a
    connector that starts with a threshold already reached recycles without waiting
    for that many batches of its own."""
    if stack.processes.get("kafka") is None:
        pytest.skip("Kafka is external here: topics are bounded by its retention")
    ada, ada_acc, bob, bob_acc = await ada_and_bob(http)
    transfers = 0
    while await most_held(stack) < RECYCLE_AFTER_BATCHES:  # the session's connector
        await transfer_projected(db, bob, bob_acc, ada_acc, 1_00)
        transfers += 1
    assert len(await wait_inbox(ada, "money_received", transfers)) == transfers

    await restart_cdc(cdc, stack, RECYCLE_AFTER_BATCHES)  # waits for the recycle due
    try:
        assert recycles(stack) == {"recycled": 1.0}
        assert await most_held(stack) < RECYCLE_AFTER_BATCHES
        await transfer_projected(db, bob, bob_acc, ada_acc, 7_00)  # on the new topics
        assert len(await wait_inbox(ada, "money_received", transfers + 1)) == transfers + 1
    finally:
        await restart_cdc(cdc, stack, None)
