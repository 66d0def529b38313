"""What our consumer groups (the projection worker's and the notification consumer's)
share about their membership: the rebalance listener (aiokafka calls a listener
object; this one hands each rebalance to the process that owns the consumer), and the
watch on where partitions start (``StartCommits``, docs/adr/0356)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from aiokafka import ConsumerRebalanceListener, TopicPartition

T = TypeVar("T")


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


# An idle round waits no longer than this for what it asks the broker about every
# partition at once: positions being looked up, committed offsets.
IDLE_ASK_SECONDS = 0.05


async def ask_at_once(
    tps: Iterable[TopicPartition],
    ask: Callable[[TopicPartition], Awaitable[T]],
    seconds: float = IDLE_ASK_SECONDS,
) -> tuple[dict[TopicPartition, T], dict[TopicPartition, BaseException]]:
    """``ask(tp)`` for each of ``tps``, all at once, waiting at most ``seconds``: the
    answers and the errors. A partition in neither was not answered in time, and its
    ask is cancelled (aiokafka's ``position()`` and ``committed()`` wait until they
    get an answer, for ever if the broker keeps failing)."""
    asks = {tp: asyncio.ensure_future(ask(tp)) for tp in tps}
    if asks:
        await asyncio.wait(asks.values(), timeout=seconds)
    answers: dict[TopicPartition, T] = {}
    errors: dict[TopicPartition, BaseException] = {}
    for tp, pending in asks.items():
        if not pending.done():
            pending.cancel()
        elif pending.cancelled():
            continue
        elif (exc := pending.exception()) is not None:
            errors[tp] = exc
        else:
            answers[tp] = pending.result()
    return answers, errors


# A topic can be deleted again just after a consumer committed where it starts on it:
# the connector replaces a topic that a consumer's metadata request auto-created with
# the broker's default partition count (cdc/publisher.py ``ensure_topics``), and the
# commit goes with it. A topic recycle waits for that commit (cdc/recycle.py), up to
# its deadline (10 s). For this long after a partition's start was committed, a
# consumer's idle rounds check that its group still has an offset for it.
START_WATCH_SECONDS = 5.0


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

    async def lost(self, consumer: Any) -> set[TopicPartition]:
        """Of the watched partitions still assigned to ``consumer``, those for which
        its group has no committed offset. An offset not answered within
        IDLE_ASK_SECONDS, or refused, counts as there (asked again next round)."""
        if not self._until:
            return set()
        now = self._clock()
        self._until = {tp: t for tp, t in self._until.items() if t > now}
        assigned = consumer.assignment()
        offsets, _ = await ask_at_once(
            [tp for tp in self._until if tp in assigned], consumer.committed
        )
        return {tp for tp, offset in offsets.items() if offset is None}
