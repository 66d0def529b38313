"""What runtime.consumer_group.StartCommits relies on, against the stack's real broker:
a group's committed offset goes with its topic when the topic is deleted, so after the
topic is created again the group has none, and the watch names the partition
(docs/adr/0356)."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.local import EmbeddedStack
from runtime.consumer_group import StartCommits
from runtime.kafka import admin_kwargs, consumer_kwargs, create_topics
from runtime.settings import KafkaSettings


async def lost_within(
    starts: StartCommits, consumer: AIOKafkaConsumer, seconds: float
) -> set[TopicPartition]:
    """``starts.lost`` once it names a partition (an answer later than its 50 ms wait
    counts as "there" for that round), or what it says at the end."""
    deadline = time.monotonic() + seconds
    while not (lost := await starts.lost(consumer)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return lost


async def test_a_start_committed_on_a_topic_replaced_since_is_named_lost(
    stack: EmbeddedStack,
) -> None:
    kafka = KafkaSettings(bootstrap=stack.kafka_bootstrap)
    run = uuid.uuid4().hex[:8]
    topic, group = f"starts-{run}", f"starts-{run}"
    tp = TopicPartition(topic, 0)
    admin = AIOKafkaAdminClient(**admin_kwargs(kafka))
    await admin.start()
    consumer = AIOKafkaConsumer(**consumer_kwargs(kafka, group_id=group, enable_auto_commit=False))
    try:
        assert await create_topics(admin, {topic: 1}, 1) == [topic]
        await consumer.start()
        consumer.assign([tp])  # assigned by hand: it fetches nothing until asked
        await consumer.commit({tp: 0})
        starts = StartCommits()
        starts.committed([tp])
        assert await starts.lost(consumer) == set()  # the group has it

        await admin.delete_topics([topic])
        assert await create_topics(admin, {topic: 1}, 1) == [topic]
        assert await lost_within(starts, consumer, seconds=5) == {tp}
        await consumer.commit({tp: 0})  # what the consumers do with it
        assert await starts.lost(consumer) == set()
    finally:
        await consumer.stop()
        await admin.delete_topics([topic])
        await admin.close()
