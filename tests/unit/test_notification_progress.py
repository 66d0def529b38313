"""The notification consumer's progress, as GET /health and the supervisor read it:
the lag it records when idle, a stored batch as progress, and "stalled" when records
wait and nothing is stored, or a partition's position is never found (a fake Kafka
consumer; no servers)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis

from runtime.consumer_progress import OK, STALLED, Progress
from runtime.settings import Settings
from server.notifications.consumer import PROCESS, NotificationConsumer
from shared.topics import EVENT_TYPE_HEADER
from tests.support.clock import Clock

A0, A1 = TopicPartition("account-events", 0), TopicPartition("account-events", 1)


class FakeKafka:
    """What the consumer asks of aiokafka when idle: its partitions, where each ends
    (as of the last fetch) and where it reads next."""

    def __init__(self) -> None:
        self.ends: dict[TopicPartition, int | None] = {}
        self.positions: dict[TopicPartition, int] = {}
        self.looking_up: set[TopicPartition] = set()  # position() waits: never found
        self.fail = False
        self.commits: dict[TopicPartition, int] = {}  # the group's offsets
        self.requests: list[dict[TopicPartition, int]] = []  # each commit, in turn

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends[tp]

    async def position(self, tp: TopicPartition) -> int:
        if self.fail:
            raise KafkaError("rebalance in progress")
        if tp in self.looking_up:
            await asyncio.Event().wait()  # as aiokafka's, while the look-up keeps failing
        return self.positions[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.update(offsets)
        self.requests.append(dict(offsets))

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.commits.get(tp)


def deposit_record(tp: TopicPartition, offset: int) -> ConsumerRecord:  # type: ignore[type-arg]
    """A record of a type no rule notifies of: stored as nothing, committed all the same."""
    return ConsumerRecord(
        tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2,
        [(EVENT_TYPE_HEADER, b"MoneyDeposited")],
    )  # fmt: skip


def consumer(clock: Clock) -> tuple[NotificationConsumer, FakeKafka]:
    progress = Progress(PROCESS, stall_seconds=30, clock=clock)
    redis: Any = Redis.from_url("redis://127.0.0.1:1")  # never connected: no command is sent
    c = NotificationConsumer(Settings.from_env({}), None, redis, None, progress)  # type: ignore[arg-type]
    kafka = FakeKafka()
    c.consumer = kafka  # type: ignore[assignment]
    c.progress.record_started()
    return c, kafka


async def test_idle_at_every_partitions_end_is_progress_and_the_lag_is_shown() -> None:
    clock = Clock()
    c, kafka = consumer(clock)
    kafka.ends = {A0: 7, A1: None}  # A1 not fetched yet: no end known, not counted
    kafka.positions = {A0: 7, A1: 0}
    clock.now += 100
    await c.look_while_idle()
    health = c.progress.health()
    assert health["process"] == "notifications" and health["status"] == OK
    assert health["lag"] == {"account-events": {"0": 0}}
    assert health["last_progress_age_seconds"] == 0


async def test_records_waiting_and_nothing_stored_is_stalled_until_a_batch_is_stored() -> None:
    clock = Clock()
    c, kafka = consumer(clock)
    kafka.ends, kafka.positions = {A0: 12, A1: 3}, {A0: 5, A1: 3}
    await c.look_while_idle()
    assert c.progress.health()["lag"] == {"account-events": {"0": 7, "1": 0}}
    clock.now += 29
    assert c.progress.status() == OK
    clock.now += 2  # past pipeline_stall_seconds with 7 records waiting
    await c.look_while_idle()
    assert c.progress.status() == STALLED
    await c.process([deposit_record(A0, 5)])  # a batch stored (and its offset committed)
    assert kafka.commits == {A0: 6}
    assert c.progress.status() == OK


async def test_a_rebalance_while_measuring_keeps_the_last_lag() -> None:
    clock = Clock()
    c, kafka = consumer(clock)
    kafka.ends, kafka.positions = {A0: 4}, {A0: 1}
    await c.look_while_idle()
    kafka.fail = True
    await c.look_while_idle()  # logged, not raised: the next idle round measures again
    assert c.progress.health()["lag"] == {"account-events": {"0": 3}}


async def test_a_position_being_looked_up_stops_neither_the_round_nor_the_others() -> None:
    clock = Clock()
    c, kafka = consumer(clock)
    # A1's position is never found; A0's topic was recreated under the consumer.
    kafka.ends, kafka.positions, kafka.looking_up = {A0: 2, A1: 9}, {A0: 5, A1: 0}, {A1}
    await asyncio.wait_for(c.look_while_idle(), timeout=5)
    assert kafka.positions[A0] == 0 and kafka.commits == {A0: 0}  # A0 read from 0
    # A1 counts as all of it waiting: a look-up that never ends is a stall.
    assert c.progress.health()["lag"] == {"account-events": {"0": 2, "1": 9}}
    clock.now += 31
    await asyncio.wait_for(c.look_while_idle(), timeout=5)
    assert c.progress.status() == STALLED


async def test_positions_being_looked_up_hold_a_round_once_not_once_each() -> None:
    clock = Clock()
    c, kafka = consumer(clock)
    tps = [TopicPartition("account-events", p) for p in range(20)]
    kafka.ends = {tp: 3 for tp in tps}
    kafka.positions = {tp: 3 for tp in tps}
    kafka.looking_up = set(tps)
    started = time.monotonic()
    await asyncio.wait_for(c.look_while_idle(), timeout=5)
    # One IDLE_ASK_SECONDS (0.05 s) for all twenty, not twenty of them (1 s).
    assert time.monotonic() - started < 0.5
    assert c.progress.health()["lag"] == {"account-events": {str(p): 3 for p in range(20)}}


async def test_a_start_commit_lost_with_a_replaced_topic_is_made_again() -> None:
    """The connector replaced a topic just after the consumer committed where it starts
    on it (a metadata request had auto-created it with the broker's default partition
    count): the offset went with it, and a topic recycle waits for it."""
    c, kafka = consumer(Clock())
    kafka.ends, kafka.positions = {A0: 0}, {A0: 7}  # recreated under the consumer
    await c.look_while_idle()
    assert kafka.positions[A0] == 0 and kafka.commits == {A0: 0}
    kafka.commits.clear()  # deleted and created again: nothing left to notice but this
    await c.look_while_idle()
    assert kafka.commits == {A0: 0}


async def test_behind_it_commits_at_most_once_a_period_and_the_idle_round_the_rest() -> None:
    clock = Clock()
    c, kafka = consumer(clock)
    kafka.ends, kafka.positions = {A0: 10}, {A0: 0}
    c._starting.clear()  # its start is known to the group already
    await c.process([deposit_record(A0, 0), deposit_record(A0, 1)])
    await c.process([deposit_record(A0, 2)])  # 7 records behind, within the period: not yet
    assert kafka.requests == [{A0: 2}]
    kafka.positions[A0] = 3
    await c.look_while_idle()  # idle: what was stored is committed at once
    assert kafka.requests == [{A0: 2}, {A0: 3}]


async def test_keeping_up_it_commits_each_batch() -> None:
    """A paused stream (a topic recycle) waits for the end to be committed."""
    clock = Clock()
    c, kafka = consumer(clock)
    kafka.ends, kafka.positions = {A0: 3}, {A0: 0}
    c._starting.clear()
    await c.process([deposit_record(A0, 0), deposit_record(A0, 1)])
    await c.process([deposit_record(A0, 2)])  # at the end: at once
    assert kafka.requests == [{A0: 2}, {A0: 3}]


async def test_a_recreated_partition_never_gets_an_offset_of_the_old_topic() -> None:
    clock = Clock()
    c, kafka = consumer(clock)
    kafka.ends, kafka.positions = {A0: 10}, {A0: 0}
    c._starting.clear()
    await c.process([deposit_record(A0, 7)])
    await c.process([deposit_record(A0, 8)])  # offset 9 left to commit
    assert kafka.requests == [{A0: 8}]
    kafka.ends, kafka.positions[A0] = {A0: 2}, 9  # the topic was recreated, 2 records long
    await c.look_while_idle()
    assert kafka.positions[A0] == 0
    assert kafka.requests == [{A0: 8}, {A0: 0}]  # its start; 9 was never committed on it
