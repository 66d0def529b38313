"""The rebalance listener of our consumer groups (the projection worker's and the
notification consumer's): aiokafka calls a listener object; this one hands each
rebalance to the process that owns the consumer."""

from __future__ import annotations

from typing import Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition


class GroupMember(Protocol):
    def partitions_revoked(self, revoked: set[TopicPartition]) -> None: ...

    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None: ...


class Rebalances(ConsumerRebalanceListener):  # aiokafka is untyped: the base is Any
    def __init__(self, member: GroupMember) -> None:
        self._member = member

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._member.partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._member.partitions_assigned(assigned)
