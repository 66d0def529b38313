"""What the platform's consumer groups committed, and where partitions end, read by the
connector without joining any group: the topic recycle (cdc/recycle.py) and the slot's
hold for readers (cdc/readers_hold.py) ask it."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime import kafka
from runtime.settings import KafkaSettings


class GroupOffsets:
    """What each consumer group committed, read without joining it (OffsetFetch
    through a consumer that carries the group id and subscribes to nothing)."""

    def __init__(self, settings: KafkaSettings, groups: list[str]) -> None:
        self._consumers = {
            g: AIOKafkaConsumer(
                **kafka.consumer_kwargs(settings, group_id=g, enable_auto_commit=False)
            )
            for g in groups
        }

    async def start(self) -> None:
        for consumer in self._consumers.values():
            await consumer.start()

    async def stop(self) -> None:
        for consumer in self._consumers.values():
            await consumer.stop()

    async def __aenter__(self) -> GroupOffsets:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def ends(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        consumer = next(iter(self._consumers.values()))
        return await consumer.end_offsets(tps)

    async def committed(
        self, group: str, tps: list[TopicPartition]
    ) -> dict[TopicPartition, int | None]:
        consumer = self._consumers[group]
        return {tp: await consumer.committed(tp) for tp in tps}
