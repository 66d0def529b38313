"""Records the worker cannot decode go to the dead-letter topic
(shared.topics.PROJECTIONS_DLQ) as they came (key, value, headers), with where
they came from and why in ``dlq.*`` headers. The worker moves past such a
record only once the broker acknowledged its dead letter: nothing is dropped
silently, and one bad record does not stop its partition."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from server.projections import metrics
from shared.topics import PROJECTIONS_DLQ

MAX_ERROR_BYTES = 1000


def dead_letter_headers(
    record: ConsumerRecord, error: str, consumer: str
) -> list[tuple[str, bytes]]:
    return [
        *(record.headers or ()),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.consumer", consumer.encode()),
        ("dlq.error", error.encode()[:MAX_ERROR_BYTES]),
    ]


class DeadLetters:
    def __init__(self, producer: AIOKafkaProducer, consumer: str) -> None:
        self.producer = producer
        self.consumer = consumer

    async def send(self, failures: list[tuple[ConsumerRecord, str]]) -> None:
        """Publish each (record, error) and wait until the broker has them all."""
        if not failures:
            return
        sent = [
            await self.producer.send(
                PROJECTIONS_DLQ,
                record.value,
                key=record.key,
                headers=dead_letter_headers(record, error, self.consumer),
            )
            for record, error in failures
        ]
        await asyncio.gather(*sent)
        for record, _ in failures:
            metrics.DEAD_LETTERS.labels(record.topic).inc()
