"""A topic between its delete and its create, as a recycle makes it (cdc/recycle.py),
seen by a group member of ours on the stack's real broker (docs/adr/0365): its
metadata request does not create the topic again (with the broker's default count),
it keeps its partition instead of rejoining its group (a join costs 2 s there), and
aiokafka's "not found" line about the missing topic is logged at INFO, not ERROR.
(A rejoin while the topic is missing is tested in tests/unit/test_kafka_missing_topic.py:
the embedded broker hands a member back its old assignment whatever the leader sends.)"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

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


@dataclass
class Gap:
    topic: str
    admin: AIOKafkaAdminClient
    producer: AIOKafkaProducer
    consumer: AIOKafkaConsumer
    rebalances: Rebalances

    async def produce(self, prefix: bytes, n: int) -> None:
        for i in range(n):
            await self.producer.send_and_wait(self.topic, prefix + b"%d" % i)

    async def delete_and_ask(self) -> None:
        """The topic deleted, and the member's metadata asked for before it is back."""
        await self.admin.delete_topics([self.topic])
        await self.consumer._client.force_metadata_update()
        assert self.topic not in await self.admin.list_topics()  # aiokafka's default creates it

    async def create(self) -> None:
        assert await create_topics(self.admin, {self.topic: 1}, 1) == [self.topic]


@asynccontextmanager
async def a_member_reading(stack: EmbeddedStack) -> AsyncIterator[Gap]:
    """A group member of ours that has read three records of a new 1-partition topic."""
    kafka = KafkaSettings(bootstrap=stack.kafka_bootstrap)
    name = f"gap-{uuid.uuid4().hex[:8]}"
    gap = Gap(
        name,
        AIOKafkaAdminClient(**admin_kwargs(kafka)),
        AIOKafkaProducer(**producer_kwargs(kafka)),
        AIOKafkaConsumer(
            **consumer_kwargs(
                kafka,
                group_id=name,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                **GROUP_MEMBER_TIMING,
            )
        ),
        Rebalances(),
    )
    await gap.admin.start()
    await gap.producer.start()
    try:
        await gap.create()
        gap.consumer.subscribe([name], listener=gap.rebalances)
        await gap.consumer.start()
        await gap.produce(b"old-", 3)
        assert b"old-2" in await values_until(gap.consumer, b"old-2", seconds=15)
        yield gap
    finally:
        await gap.consumer.stop()
        await gap.producer.stop()
        await asyncio.gather(gap.admin.delete_topics([name]), return_exceptions=True)
        await gap.admin.close()


async def test_a_member_asking_between_delete_and_create_neither_creates_the_topic_nor_rejoins(
    stack: EmbeddedStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiokafka.cluster")
    async with a_member_reading(stack) as gap:
        await gap.delete_and_ask()
        await gap.create()
        await gap.produce(b"new-", 5)  # past the member's position (3) on the new topic

        got = await values_until(gap.consumer, b"new-", seconds=10)
        assert any(v.startswith(b"new-") for v in got), got
        assert gap.rebalances.revoked == [], "the member rejoined its group"
        assert gap.consumer.assignment() == {TopicPartition(gap.topic, 0)}
    missing = [r for r in caplog.records if r.getMessage().endswith(NOT_FOUND)]
    assert missing, "the member's metadata request did not find the topic missing"
    assert {r.levelname for r in missing} == {"INFO"}
