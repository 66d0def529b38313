"""What our consumer groups (the projection worker's and the notification consumer's)
share about their membership: the rebalance listener (aiokafka calls a listener
object; this one hands each rebalance to the process that owns the consumer), and the
watch on where partitions start (``StartCommits``, docs/adr/0356)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

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


# A topic can be deleted again just after a consumer committed where it starts on it:
# the connector replaces a topic that a consumer's metadata request auto-created with
# the broker's default partition count (cdc/publisher.py ``ensure_topics``), and the
# commit goes with it. A topic recycle waits for that commit (cdc/recycle.py), up to
# its deadline (10 s). For this long after a partition's start was committed, a
# consumer's idle rounds check that its group still has an offset for it.
START_WATCH_SECONDS = 5.0
# An idle round waits no longer than this for the group's offsets (asked at once).
START_CHECK_WAIT_SECONDS = 0.05


class StartCommits:
    """Partitions whose start a consumer committed (a recreated topic, a new
    assignment), watched for START_WATCH_SECONDS: ``lost`` names those whose group
    offset is gone, to be committed again (docs/adr/0356)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[TopicPartition, float] = {}

    def committed(self, tps: Iterable[TopicPartition]) -> None:
        until = self._clock() + START_WATCH_SECONDS
        for tp in tps:
            self._until[tp] = until

    @property
    def watching(self) -> bool:
        return bool(self._until)

    async def lost(self, consumer: Any) -> set[TopicPartition]:
        """Of the watched partitions still assigned to ``consumer``, those for which
        its group has no committed offset. Offsets not answered within
        START_CHECK_WAIT_SECONDS, or refused, count as there (asked again next round)."""
        now = self._clock()
        self._until = {tp: t for tp, t in self._until.items() if t > now}
        assigned = consumer.assignment()
        watched = [tp for tp in self._until if tp in assigned]
        if not watched:
            return set()
        asks = {tp: asyncio.ensure_future(consumer.committed(tp)) for tp in watched}
        await asyncio.wait(asks.values(), timeout=START_CHECK_WAIT_SECONDS)
        gone = set()
        for tp, ask in asks.items():
            if not ask.done():
                ask.cancel()
            elif not ask.cancelled() and ask.exception() is None and ask.result() is None:
                gone.add(tp)
        return gone
