"""What our consumer groups (the projection worker's and the notification consumer's)
share about their membership: the rebalance listener (aiokafka calls a listener
object; this one hands each rebalance to the process that owns the consumer), when
their offsets are committed (``OffsetCommits``, docs/adr/0359), and the watch on where
partitions start (``StartCommits``, docs/adr/0356)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)

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


# While batches flow, a group's offsets are committed at most this often: each commit
# is a broker request in the batch loop (docs/adr/0359). Idle, at once: a topic recycle
# waits for every group to commit the end of what it read (cdc/recycle.py). After a
# crash a consumer reads again at most this much, which both of ours absorb: the
# projection worker's position is in PostgreSQL, the inbox's source keys are unique.
COMMIT_EVERY_SECONDS = 1.0


class OffsetCommits:
    """The offsets a consumer has yet to commit to its group, and when they are due."""

    def __init__(
        self, *, at_end_at_once: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._at_end_at_once = at_end_at_once  # also due when the consumer read all there is
        self._clock = clock
        self._committed_at: float | None = None  # None: the next commit goes at once
        self.pending: dict[TopicPartition, int] = {}

    def done(self, records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        """These records were applied: the position after each partition's last one."""
        pending = self.pending
        for r in records:
            pending[TopicPartition(r.topic, r.partition)] = r.offset + 1

    def start_at(self, tp: TopicPartition, offset: int) -> None:
        """``tp`` is read again from ``offset`` (a recreated topic): committed next, at once."""
        self.pending[tp] = offset
        self._committed_at = None

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Revoked, or restarted from a position of their own: not ours to commit."""
        for tp in tps:
            self.pending.pop(tp, None)

    async def commit(self, consumer: Any, *, idle: bool) -> None:
        """Commit what is pending for the partitions still assigned, if it is due: when
        ``idle``, COMMIT_EVERY_SECONDS after the last commit, or (``at_end_at_once``)
        when the consumer is at the end of what it reads. A commit the group refuses (a
        rebalance began) is dropped: the records are read again, as after a crash."""
        if not self.pending:
            return
        now = self._clock()
        assigned = consumer.assignment()
        offsets = {tp: o for tp, o in self.pending.items() if tp in assigned}
        if (
            not idle
            and self._committed_at is not None
            and now - self._committed_at < COMMIT_EVERY_SECONDS
            and not (self._at_end_at_once and _at_end(consumer, offsets))
        ):
            return
        self.pending = {}
        self._committed_at = now
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            log.info("Kafka offset commit skipped: %s", exc)


def _at_end(consumer: Any, offsets: dict[TopicPartition, int]) -> bool:
    """Each offset (of an assigned partition: aiokafka knows no other's end) is its
    partition's end as of the last fetch: the consumer has read all there is (a paused
    stream: a topic recycle waits for this commit)."""
    for tp, offset in offsets.items():
        end = consumer.highwater(tp)  # from the last fetch: no request of its own
        if end is None or offset < end:
            return False
    return True


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
# the connector replaces a topic that a metadata request auto-created with the
# broker's default partition count (cdc/publisher.py ``ensure_topics``), and the
# commit goes with it. Our own clients no longer auto-create (runtime/kafka.py, ADR
# 0365); a client that is not ours still can. A topic recycle waits for that commit
# (cdc/recycle.py), up to its deadline (10 s). For this long after a partition's start
# was committed, a consumer's idle rounds check that its group still has an offset
# for it.
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
