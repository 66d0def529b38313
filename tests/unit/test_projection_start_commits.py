"""The projection worker's idle round after a topic was recreated under it: it reads
the partition from offset 0 and commits that start, and commits it again when the
group loses it because the topic was replaced under the commit (a fake Kafka consumer;
no servers)."""

from __future__ import annotations

from aiokafka import TopicPartition

from runtime.settings import Settings
from server.projections.worker import Worker

A0 = TopicPartition("account-events", 0)


class FakeKafka:
    def __init__(self, end: int) -> None:
        self.end = end
        self.position = -1
        self.commits: dict[TopicPartition, int] = {}  # the group's offsets
        self.commit_requests = 0

    def assignment(self) -> set[TopicPartition]:
        return {A0}

    def highwater(self, tp: TopicPartition) -> int:
        return self.end

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position = offset

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commit_requests += 1
        self.commits.update(offsets)

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.commits.get(tp)


class _Pool:
    def expire_connections(self) -> None:
        pass


def worker(kafka: FakeKafka) -> Worker:
    w = Worker(Settings.from_env({}), _Pool(), None)  # type: ignore[arg-type]
    w.consumer = kafka  # type: ignore[assignment]
    return w


async def test_a_start_commit_lost_with_a_replaced_topic_is_made_again() -> None:
    kafka = FakeKafka(end=0)
    w = worker(kafka)
    w._last_offset[A0] = 41  # read up to 41; the partition now ends at 0: recreated
    await w.idle_round()
    assert kafka.position == 0 and kafka.commits == {A0: 0} and w.sweep_needed
    kafka.commits.clear()  # deleted and created again: nothing left to notice but this
    await w.idle_round()
    assert kafka.commits == {A0: 0}


async def test_a_start_the_group_keeps_is_not_committed_again() -> None:
    kafka = FakeKafka(end=0)
    w = worker(kafka)
    w._last_offset[A0] = 41
    await w.idle_round()
    await w.idle_round()
    assert kafka.commit_requests == 1
