"""Our topics are created by whichever process starts first (runtime/kafka.py
``create_missing_topics``): the CDC connector, the projection worker or the
notification consumer. Against the stack's real broker (which refuses no topic: what
happens to a refused one is tests/unit/test_topic_creation_refused.py)."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.admin import AIOKafkaAdminClient

from infra.local import EmbeddedStack
from runtime.kafka import admin_kwargs, create_missing_topics
from runtime.settings import KafkaSettings


async def _partitions(kafka: KafkaSettings, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(**admin_kwargs(kafka))
    await admin.start()
    try:
        return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(topics)}
    finally:
        await admin.close()


async def _delete(kafka: KafkaSettings, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(**admin_kwargs(kafka))
    await admin.start()
    try:
        await admin.delete_topics(topics)
    finally:
        await admin.close()


async def test_processes_starting_together_create_each_topic_once(stack: EmbeddedStack) -> None:
    kafka = KafkaSettings(bootstrap=stack.kafka_bootstrap)
    run = uuid.uuid4().hex[:8]
    wanted = {f"create-{run}-a": 3, f"create-{run}-b": 1}
    try:
        # Three processes starting at once: each finds the topics missing and asks.
        created = await asyncio.gather(
            *(create_missing_topics(kafka, wanted, wanted) for _ in range(3))
        )
        assert sorted(t for c in created for t in c) == sorted(wanted)  # once each
        assert await create_missing_topics(kafka, wanted, wanted) == []  # found: none created
        assert await _partitions(kafka, list(wanted)) == wanted
    finally:
        await _delete(kafka, list(wanted))
