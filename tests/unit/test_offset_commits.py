"""When our consumer groups commit their offsets (runtime.consumer_group.OffsetCommits):
at once the first time and when idle, at most once every COMMIT_EVERY_SECONDS while
batches flow, only for partitions still assigned (a fake Kafka consumer; no servers)."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from runtime.consumer_group import COMMIT_EVERY_SECONDS, OffsetCommits
from tests.support.clock import Clock

A0, A1 = TopicPartition("account-events", 0), TopicPartition("account-events", 1)


class FakeKafka:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.ends: dict[TopicPartition, int | None] = {}  # as of the last fetch
        self.requests: list[dict[TopicPartition, int]] = []
        self.fail = False

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def highwater(self, tp: TopicPartition) -> int | None:
        assert tp in self.assigned, "Partition is not assigned"  # as aiokafka's
        return self.ends.get(tp)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail:
            raise KafkaError("rebalance in progress")
        self.requests.append(dict(offsets))


def record(tp: TopicPartition, offset: int) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


async def test_batches_commit_at_most_once_a_period_and_idle_commits_at_once() -> None:
    clock = Clock()
    commits, kafka = OffsetCommits(clock=clock), FakeKafka({A0, A1})
    commits.done([record(A0, 4), record(A1, 0), record(A0, 5)])
    await commits.commit(kafka, idle=False)  # the first: at once
    assert kafka.requests == [{A0: 6, A1: 1}]

    clock.now += COMMIT_EVERY_SECONDS / 2
    commits.done([record(A0, 6)])
    await commits.commit(kafka, idle=False)  # within the period: later
    commits.done([record(A0, 7)])
    await commits.commit(kafka, idle=False)
    assert len(kafka.requests) == 1

    clock.now += COMMIT_EVERY_SECONDS / 2
    commits.done([record(A1, 1)])
    await commits.commit(kafka, idle=False)  # a period since the last: the latest of each
    assert kafka.requests[1:] == [{A0: 8, A1: 2}]

    commits.done([record(A0, 8)])
    await commits.commit(kafka, idle=True)  # idle: at once
    assert kafka.requests[2:] == [{A0: 9}]
    await commits.commit(kafka, idle=True)  # nothing pending: no request
    assert len(kafka.requests) == 3


async def test_only_assigned_partitions_are_committed_and_forgotten_ones_not_at_all() -> None:
    clock = Clock()
    commits, kafka = OffsetCommits(clock=clock), FakeKafka({A0})
    commits.done([record(A0, 1), record(A1, 1)])
    commits.forget([A0])
    await commits.commit(kafka, idle=True)
    assert kafka.requests == []  # A0 forgotten, A1 revoked meanwhile
    assert commits.pending == {}


async def test_a_restarted_partition_is_committed_at_once_from_where_it_starts() -> None:
    clock = Clock()
    commits, kafka = OffsetCommits(clock=clock), FakeKafka({A0, A1})
    commits.done([record(A0, 1)])
    await commits.commit(kafka, idle=False)
    commits.done([record(A1, 40)])
    commits.start_at(A0, 0)  # a recreated topic, read again from 0
    await commits.commit(kafka, idle=False)  # within the period, but due at once
    assert kafka.requests == [{A0: 2}, {A0: 0, A1: 41}]


async def test_a_refused_commit_is_dropped_not_raised() -> None:
    clock = Clock()
    commits, kafka = OffsetCommits(clock=clock), FakeKafka({A0})
    kafka.fail = True
    commits.done([record(A0, 3)])
    await commits.commit(kafka, idle=True)  # logged: the records are read again
    assert commits.pending == {}


async def test_a_consumer_at_the_end_of_what_it_reads_can_commit_at_once() -> None:
    """A paused stream (a topic recycle) waits for this commit: not for the period."""
    clock = Clock()
    commits, kafka = OffsetCommits(at_end_at_once=True, clock=clock), FakeKafka({A0, A1})
    kafka.ends = {A0: 10, A1: 5}
    commits.done([record(A0, 3)])
    await commits.commit(kafka, idle=False)  # the first
    commits.done([record(A0, 9)])
    await commits.commit(kafka, idle=False)  # A0 at its end, A1 not pending: at once
    commits.done([record(A0, 10), record(A1, 2)])
    kafka.ends = {A0: 11, A1: None}  # A1 not fetched since: its end not known
    await commits.commit(kafka, idle=False)  # A1 not known to be at its end: later
    assert kafka.requests == [{A0: 4}, {A0: 10}]


async def test_by_default_the_end_waits_for_the_period_like_the_rest() -> None:
    clock = Clock()
    commits, kafka = OffsetCommits(clock=clock), FakeKafka({A0})
    kafka.ends = {A0: 10}
    commits.done([record(A0, 3)])
    await commits.commit(kafka, idle=False)
    commits.done([record(A0, 9)])
    await commits.commit(kafka, idle=False)
    assert kafka.requests == [{A0: 4}]


async def test_the_end_of_a_partition_revoked_meanwhile_is_not_asked_for() -> None:
    clock = Clock()
    commits, kafka = OffsetCommits(at_end_at_once=True, clock=clock), FakeKafka({A0, A1})
    kafka.ends = {A0: 10, A1: 5}
    commits.done([record(A0, 3)])
    await commits.commit(kafka, idle=False)
    commits.done([record(A0, 9), record(A1, 2)])
    kafka.assigned = {A0}  # A1 revoked while its batch was being stored
    await commits.commit(kafka, idle=False)  # A0 at its end: at once, A1 left out
    assert kafka.requests == [{A0: 4}, {A0: 10}]
