"""runtime/kafka.py's rule for a subscribed topic missing from a member's metadata
(docs/adr/0365), on aiokafka's own coordinator method: outside a rejoin it keeps the
partition count last seen (no rebalance between a recycle's delete and create); while
the group is being joined it counts 0, so that an assignment made without the topic
is followed by another once the topic is back. The embedded broker cannot show the
second case: it hands a member back its old assignment, whatever the leader sends."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.consumer.group_coordinator import BaseCoordinator

from runtime import kafka
from runtime.settings import KafkaSettings


@dataclass
class Cluster:
    partitions: dict[str, set[int]]

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions.get(topic)


@dataclass
class Subscription:
    reassignment_in_progress: bool = False


@dataclass
class Member:
    """What ``BaseCoordinator._get_metadata_snapshot`` reads of a coordinator."""

    _cluster: Cluster
    _subscription: Subscription = field(default_factory=Subscription)
    _group_subscription: set[str] = field(default_factory=lambda: {"a", "b"})
    _metadata_snapshot: dict[str, int] = field(default_factory=lambda: {"a": 1, "b": 2})


def snapshot(member: Member) -> dict[str, int]:
    kafka.consumer_kwargs(KafkaSettings(bootstrap="127.0.0.1:9092"))  # sets the rule up
    counts: dict[str, int] = BaseCoordinator._get_metadata_snapshot(member)
    return counts


def test_a_missing_topic_keeps_its_count_and_a_changed_one_is_seen() -> None:
    member = Member(Cluster({"b": {0, 1, 2, 3}}))
    assert snapshot(member) == {"a": 1, "b": 4}


def test_while_the_group_is_joined_a_missing_topic_counts_zero() -> None:
    member = Member(Cluster({"b": {0, 1}}), Subscription(reassignment_in_progress=True))
    assert snapshot(member) == {"a": 0, "b": 2}


def test_a_topic_never_seen_counts_zero() -> None:
    member = Member(Cluster({"b": {0, 1}}), _metadata_snapshot={})
    assert snapshot(member) == {"a": 0, "b": 2}
