"""A topic the broker refuses to create is an error naming it; one created by another
process meanwhile is not (runtime/kafka.py ``create_missing_topics``). The embedded
broker refuses nothing, so its admin client is replaced by one that answers as a
Kafka cluster does (CreateTopics answers per topic; aiokafka raises none of them)."""

from __future__ import annotations

from typing import Any

import aiokafka.admin
import pytest
from aiokafka.errors import InvalidReplicationFactorError

from runtime.kafka import create_missing_topics
from runtime.settings import KafkaSettings


class _Cluster:
    """Answers CreateTopics with the given (error code, message) per topic."""

    def __init__(self, answers: dict[str, tuple[int, str | None]]) -> None:
        self.answers = answers
        self.asked: list[Any] = []

    def admin(self, **_: Any) -> Any:
        cluster = self

        class Admin:
            async def start(self) -> None: ...

            async def close(self) -> None: ...

            async def list_topics(self) -> list[str]:
                return ["already-there"]

            async def create_topics(self, new: list[Any]) -> Any:
                cluster.asked += new
                errors = [(t.name, *cluster.answers[t.name]) for t in new]
                return type("Response", (), {"topic_errors": errors})

        return Admin()


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> _Cluster:
    c = _Cluster({})
    monkeypatch.setattr(aiokafka.admin, "AIOKafkaAdminClient", c.admin)
    return c


async def test_a_refused_topic_raises_the_brokers_error_naming_the_topic(cluster: _Cluster) -> None:
    cluster.answers = {
        "fine": (0, None),
        "too-few-brokers": (38, "Replication factor: 3 larger than available brokers: 1."),
    }
    kafka = KafkaSettings(replication_factor=3)
    with pytest.raises(InvalidReplicationFactorError, match="'too-few-brokers'.*available brokers"):
        await create_missing_topics(
            kafka, ["fine", "too-few-brokers"], {"fine": 1, "too-few-brokers": 1}
        )
    assert [t.topic_configs for t in cluster.asked] == [{"min.insync.replicas": "2"}] * 2


async def test_a_topic_created_meanwhile_is_found_not_refused(cluster: _Cluster) -> None:
    cluster.answers = {"ours": (0, None), "theirs": (36, "Topic 'theirs' already exists.")}
    created = await create_missing_topics(
        KafkaSettings(), ["ours", "theirs", "already-there"], {"ours": 3, "theirs": 1}
    )
    assert created == ["ours"]
    assert {t.name: t.num_partitions for t in cluster.asked} == {"ours": 3, "theirs": 1}
    assert all(t.topic_configs == {} for t in cluster.asked)  # one replica: nothing to add
