"""A topic between its delete and its create, as a recycle makes it (cdc/recycle.py),
seen by a group member of ours on the stack's real broker (docs/adr/0365): neither its
metadata request nor the admin client's creates the topic again (with the broker's
default count), it keeps its partition instead of rejoining its group (a join costs
2 s there), and
aiokafka's "not found" line about the missing topic is logged at INFO, not ERROR.
(A rejoin while the topic is missing is tested in tests/unit/test_kafka_missing_topic.py:
the embedded broker hands a member back its old assignment whatever the leader sends.)"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.local import EmbeddedStack
from runtime.kafka import (
    GROUP_MEMBER_TIMING,
    admin_kwargs,
    consumer_kwargs,
    create_topics,
    producer_kwargs,
)
from runtime.settings import KafkaSettings

NOT_FOUND = "not found in cluster metadata"  # aiokafka.cluster's line for a missing topic


class Rebalances(ConsumerRebalanceListener):  # aiokafka is untyped: the base is Any
    def __init__(self) -> None:
        self.revoked: list[set[TopicPartition]] = []

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:  # the first join revokes nothing
            self.revoked.append(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


async def values_until(consumer: AIOKafkaConsumer, wanted: bytes, seconds: float) -> list[bytes]:
    """Values fetched until one starts with ``wanted``, or until the deadline."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=50)
        got += [r.value for records in batches.values() for r in records]
        if any(v.startswith(wanted) for v in got):
            break
    return got


async def test_a_member_asking_between_delete_and_create_neither_creates_the_topic_nor_rejoins(
    stack: EmbeddedStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiokafka.cluster")
    kafka = KafkaSettings(bootstrap=stack.kafka_bootstrap)
    topic = f"gap-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**admin_kwargs(kafka))
    producer = AIOKafkaProducer(**producer_kwargs(kafka))
    consumer = AIOKafkaConsumer(
        **consumer_kwargs(
            kafka,
            group_id=topic,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **GROUP_MEMBER_TIMING,
        )
    )
    rebalances = Rebalances()

    async def produce(prefix: bytes, n: int) -> None:
        for i in range(n):
            await producer.send_and_wait(topic, prefix + b"%d" % i)

    await admin.start()
    await producer.start()
    try:
        assert await create_topics(admin, {topic: 1}, 1) == [topic]
        consumer.subscribe([topic], listener=rebalances)
        await consumer.start()
        await produce(b"old-", 3)
        assert b"old-2" in await values_until(consumer, b"old-2", seconds=15)

        await admin.delete_topics([topic])
        # The member's metadata, and the admin client's, asked for before it is back:
        # aiokafka's default would have the broker create it (with 4 partitions).
        await consumer._client.force_metadata_update()
        await admin.describe_topics([topic])
        assert topic not in await admin.list_topics()
        assert await create_topics(admin, {topic: 1}, 1) == [topic]
        await produce(b"new-", 5)  # past the member's position (3) on the new topic

        got = await values_until(consumer, b"new-", seconds=10)
        assert any(v.startswith(b"new-") for v in got), got
        assert rebalances.revoked == [], "the member rejoined its group"
        assert consumer.assignment() == {TopicPartition(topic, 0)}
    finally:
        await consumer.stop()
        await producer.stop()
        await asyncio.gather(admin.delete_topics([topic]), return_exceptions=True)
        await admin.close()
    missing = [r for r in caplog.records if r.getMessage().endswith(NOT_FOUND)]
    assert missing, "the member's metadata request did not find the topic missing"
    assert {r.levelname for r in missing} == {"INFO"}
