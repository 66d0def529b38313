"""On a memory-only broker the connector confirms a WAL position only once every
platform consumer group has read past what Kafka had acked for it (cdc/readers_hold.py).
The groups' committed offsets come from a fake; the rule is the module's own."""

from __future__ import annotations

from aiokafka import TopicPartition

from cdc.readers_hold import ASK_EVERY_SECONDS, HOLD_AT_MOST_SECONDS, ReadersHold

READERS = {"projections": ("account-events",), "notifications": ("account-events", "audit")}
EVENTS0, AUDIT0 = ("account-events", 0), ("audit", 0)


class Groups:
    """What each group committed, as OffsetFetch answers it (None: nothing)."""

    def __init__(self) -> None:
        self.offsets: dict[str, dict[tuple[str, int], int]] = {}
        self.asked: list[str] = []

    def commit(self, group: str, tp: tuple[str, int], offset: int) -> None:
        self.offsets.setdefault(group, {})[tp] = offset

    async def committed(
        self, group: str, tps: list[TopicPartition]
    ) -> dict[TopicPartition, int | None]:
        self.asked.append(group)
        have = self.offsets.get(group, {})
        return {tp: have.get((tp.topic, tp.partition)) for tp in tps}


class Hold(ReadersHold):
    """A hold on a clock of its own; ``ask`` lets the asking period pass first."""

    def __init__(self, seen: set[str] | None = None) -> None:
        self.now = 0.0
        self.postgres_away = False  # the connector's word
        super().__init__(
            READERS, seen=seen, away=lambda: self.postgres_away, clock=lambda: self.now
        )

    async def ask(self, groups: Groups, generation: int = 0) -> int:
        self.now += ASK_EVERY_SECONDS
        return await self.clear(groups.committed, generation)


def both_at(groups: Groups, events: int, audit: int) -> None:
    groups.commit("projections", EVENTS0, events)
    groups.commit("notifications", EVENTS0, events)
    groups.commit("notifications", AUDIT0, audit)


async def test_a_position_is_cleared_once_every_group_read_past_it_in_order() -> None:
    hold, groups = Hold(), Groups()
    both_at(groups, 0, 0)
    hold.mark(100, 0, {EVENTS0: 10, AUDIT0: 4})
    hold.mark(200, 0, {EVENTS0: 20, AUDIT0: 8})
    assert hold.holding
    assert await hold.ask(groups) == 0

    groups.commit("projections", EVENTS0, 20)  # the projection worker is through both
    groups.commit("notifications", EVENTS0, 10)
    assert await hold.ask(groups) == 0  # notifications: audit not yet
    groups.commit("notifications", AUDIT0, 4)
    assert await hold.ask(groups) == 100
    assert hold.holding

    groups.commit("notifications", EVENTS0, 20)
    groups.commit("notifications", AUDIT0, 8)
    assert await hold.ask(groups) == 200
    assert not hold.holding


async def test_an_older_position_or_another_topic_makes_no_mark() -> None:
    hold, groups = Hold(), Groups()
    both_at(groups, 5, 5)
    hold.mark(100, 0, {EVENTS0: 5, AUDIT0: 5, ("cdc.accounts", 0): 900})
    hold.mark(90, 0, {EVENTS0: 50})  # not newer: nothing to wait for
    assert await hold.ask(groups) == 100  # cdc.accounts has no reader
    hold.mark(100, 0, {EVENTS0: 50})
    assert not hold.holding


async def test_a_group_never_seen_reading_is_not_waited_for() -> None:
    """A stack without the notification consumer (or before it first commits)."""
    hold, groups = Hold(), Groups()
    groups.commit("projections", EVENTS0, 10)
    hold.mark(100, 0, {EVENTS0: 10, AUDIT0: 3})
    assert await hold.ask(groups) == 100


async def test_a_group_seen_reading_is_waited_for_after_the_broker_forgot_it() -> None:
    """The broker restarted: every group's offsets are gone. One that was reading is
    waited for (it rejoins and commits where it starts)."""
    seen: set[str] = set()
    hold, groups = Hold(seen), Groups()
    both_at(groups, 10, 3)
    hold.mark(100, 0, {EVENTS0: 10, AUDIT0: 3})
    assert await hold.ask(groups) == 100
    assert seen == {"projections", "notifications"}

    # the next session (a new hold, the same groups seen): the broker forgot everything
    hold, groups = Hold(seen), Groups()
    groups.commit("projections", EVENTS0, 4)
    hold.mark(200, 0, {EVENTS0: 4, AUDIT0: 1})
    assert await hold.ask(groups) == 0
    groups.commit("notifications", EVENTS0, 0)  # rejoined: committed where it starts
    groups.commit("notifications", AUDIT0, 0)
    assert await hold.ask(groups) == 0  # reading, not at the mark yet
    both_at(groups, 4, 1)
    assert await hold.ask(groups) == 200


async def test_a_position_waits_for_the_groups_at_most_a_while() -> None:
    """A PostgreSQL shutting down waits for the connector to confirm, and the consumers
    cannot read on meanwhile; a group stopped for good must not keep the WAL either."""
    seen = {"projections", "notifications"}
    hold, groups = Hold(seen), Groups()
    groups.commit("projections", EVENTS0, 4)  # the notification consumer: no offset at all
    hold.mark(200, 0, {EVENTS0: 4, AUDIT0: 1})
    hold.now += HOLD_AT_MOST_SECONDS - 2 * ASK_EVERY_SECONDS
    assert await hold.ask(groups) == 0
    hold.mark(300, 0, {EVENTS0: 9, AUDIT0: 1})
    assert await hold.ask(groups) == 200  # 200 waited its time; 300 waits on
    assert hold.holding
    assert seen == {"projections"}  # not waited for again until it reads
    groups.commit("projections", EVENTS0, 9)
    assert await hold.ask(groups) == 300


async def test_marks_before_a_recycle_are_cleared_with_it() -> None:
    """A recycle deletes the topics only after every group committed their ends; the
    offsets on the new topics start again at 0."""
    hold, groups = Hold(), Groups()
    both_at(groups, 0, 0)
    hold.mark(100, 0, {EVENTS0: 10, AUDIT0: 4})
    hold.mark(150, 1, {EVENTS0: 2, AUDIT0: 1})  # after the recreation
    assert await hold.ask(groups, 1) == 100
    both_at(groups, 2, 1)
    assert await hold.ask(groups, 1) == 150


async def test_the_groups_are_asked_at_most_once_a_period() -> None:
    hold, groups = Hold(), Groups()
    both_at(groups, 10, 4)
    hold.mark(100, 0, {EVENTS0: 10, AUDIT0: 4})
    assert await hold.ask(groups) == 100
    asked = len(groups.asked)
    hold.mark(200, 0, {EVENTS0: 20, AUDIT0: 8})
    both_at(groups, 20, 8)
    hold.now += ASK_EVERY_SECONDS / 2
    assert await hold.clear(groups.committed, 0) == 100  # too soon: not asked
    assert len(groups.asked) == asked
    hold.now += ASK_EVERY_SECONDS / 2
    assert await hold.clear(groups.committed, 0) == 200
    hold.mark(300, 0, {EVENTS0: 30, AUDIT0: 9})
    both_at(groups, 30, 9)
    assert await hold.clear(groups.committed, 0, now=True) == 300  # a clean stop asks now


async def test_the_librdkafka_publisher_records_what_kafka_acked_as_well() -> None:
    """The hold reads ``Publisher.acked_ends``; bench.cdc can run the connector on
    librdkafka (cdc/rdkafka_publisher.py), whose deliveries come one record at a time."""
    from cdc.rdkafka_publisher import RdKafkaPublisher, _RdRound
    from runtime.settings import KafkaSettings

    class Delivered:
        def __init__(self, topic: str, partition: int, offset: int) -> None:
            self._at = (topic, partition, offset)

        def topic(self) -> str:
            return self._at[0]

        def partition(self) -> int:
            return self._at[1]

        def offset(self) -> int:
            return self._at[2]

    pub = RdKafkaPublisher(KafkaSettings(), 1, lambda *_: None, lambda _: None)
    rnd = _RdRound(pub)
    rnd.pending = 3
    for offset in (41, 40, 42):  # acks may come back in any order across partitions
        rnd.delivered(None, Delivered("account-events", 0, offset))
    assert pub.acked_ends == {EVENTS0: 43}


async def test_nothing_waits_while_postgresql_is_away_and_holding_resumes_when_it_is_back() -> None:
    """A PostgreSQL shutting down waits for the connector's confirmation, and the
    consumers cannot read on meanwhile (they write to that PostgreSQL)."""
    hold, groups = Hold(), Groups()
    both_at(groups, 0, 0)
    hold.mark(100, 0, {EVENTS0: 10, AUDIT0: 4})
    assert await hold.ask(groups) == 0
    hold.postgres_away = True  # the connector's side connection was ended by the server
    hold.mark(100, 0, {EVENTS0: 10, AUDIT0: 4})  # its loop looks again at once
    assert not hold.holding
    assert await hold.ask(groups) == 100
    hold.mark(150, 0, {EVENTS0: 15, AUDIT0: 6})  # acked during the shutdown
    assert not hold.holding
    assert await hold.ask(groups) == 150
    hold.postgres_away = False  # the side connection is back
    hold.mark(200, 0, {EVENTS0: 20, AUDIT0: 8})
    assert hold.holding
    assert await hold.ask(groups) == 150
