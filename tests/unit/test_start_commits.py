"""runtime.consumer_group.StartCommits: after a consumer committed where partitions
start, its idle rounds find those whose group offset was lost, for a few seconds
(a fake Kafka consumer; no servers)."""

from __future__ import annotations

import asyncio
import time

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from runtime.consumer_group import START_WATCH_SECONDS, StartCommits
from tests.support.clock import Clock

A0, A1, C0 = (
    TopicPartition("account-events", 0),
    TopicPartition("account-events", 1),
    TopicPartition("cdc.audit", 0),
)


class GroupOffsets:
    """The consumer's assignment and its group's committed offsets."""

    def __init__(self, assigned: set[TopicPartition], offsets: dict[TopicPartition, int]):
        self.assigned = assigned
        self.offsets = offsets
        self.slow: set[TopicPartition] = set()  # never answered
        self.refused: set[TopicPartition] = set()
        self.asked: list[TopicPartition] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def committed(self, tp: TopicPartition) -> int | None:
        self.asked.append(tp)
        if tp in self.slow:
            await asyncio.Event().wait()
        if tp in self.refused:
            raise KafkaError("coordinator not available")
        return self.offsets.get(tp)


async def test_a_watched_partition_whose_offset_is_gone_is_named() -> None:
    starts = StartCommits(Clock())
    starts.committed([A0, A1])
    group = GroupOffsets({A0, A1, C0}, {A1: 0, C0: 3})
    assert await starts.lost(group) == {A0}
    assert set(group.asked) == {A0, A1}  # C0 is not watched: not asked about


async def test_the_watch_ends_and_nothing_is_asked_after_it() -> None:
    clock = Clock()
    starts = StartCommits(clock)
    starts.committed([A0])
    group = GroupOffsets({A0}, {})
    clock.now += START_WATCH_SECONDS + 0.1
    assert await starts.lost(group) == set()
    assert group.asked == []


async def test_a_partition_no_longer_assigned_is_left_to_its_new_owner() -> None:
    starts = StartCommits(Clock())
    starts.committed([A0])
    group = GroupOffsets(set(), {})
    assert await starts.lost(group) == set()
    assert group.asked == []


async def test_an_unanswered_or_refused_ask_counts_as_there_and_holds_the_round_briefly() -> None:
    starts = StartCommits(Clock())
    starts.committed([A0, A1, C0])
    group = GroupOffsets({A0, A1, C0}, {})
    group.slow, group.refused = {A0}, {A1}
    started = time.monotonic()
    assert await asyncio.wait_for(starts.lost(group), timeout=5) == {C0}
    assert time.monotonic() - started < 0.5  # one IDLE_ASK_SECONDS (0.05 s)
    group.slow, group.refused = set(), set()
    assert await starts.lost(group) == {A0, A1, C0}  # asked again in the next round
