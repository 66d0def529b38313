"""How many partitions the keyed topics get, and who decides (docs/adr/0311)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local.stack import EMBEDDED_TOPIC_PARTITIONS, EmbeddedStack
from runtime.settings import Settings
from shared.topics import (
    ACCOUNT_EVENTS,
    AUDIT_TOPIC_PARTITIONS,
    CDC_ACCOUNTS,
    CDC_AUDIT,
    CDC_HEARTBEAT,
    DEFAULT_TOPIC_PARTITIONS,
    TRANSACTION_EVENTS,
    topic_specs,
)


def test_keyed_topics_take_the_count_audit_topics_at_most_theirs() -> None:
    for n in (1, 2, 8, 16):
        specs = {s.name: s.partitions for s in topic_specs(n)}
        for keyed in (ACCOUNT_EVENTS, TRANSACTION_EVENTS, CDC_ACCOUNTS):
            assert specs[keyed] == n
        assert specs[CDC_AUDIT] == min(n, AUDIT_TOPIC_PARTITIONS)
        assert specs[CDC_HEARTBEAT] == 1


def test_a_topic_without_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        topic_specs(0)


def test_the_setting_defaults_to_kafkas_usual_count() -> None:
    assert Settings().kafka.topic_partitions == DEFAULT_TOPIC_PARTITIONS
    env = {"BANK_KAFKA_TOPIC_PARTITIONS": "3"}
    assert Settings.from_env(env).kafka.topic_partitions == 3


def test_the_embedded_stack_runs_one_partition_unless_told(tmp_path: Path) -> None:
    embedded = EmbeddedStack(str(tmp_path), environ={})
    assert embedded.topic_partitions == EMBEDDED_TOPIC_PARTITIONS == 1
    assert embedded.env()["BANK_KAFKA_TOPIC_PARTITIONS"] == "1"

    told = EmbeddedStack(str(tmp_path), environ={"BANK_KAFKA_TOPIC_PARTITIONS": "4"})
    assert told.env()["BANK_KAFKA_TOPIC_PARTITIONS"] == "4"

    external = EmbeddedStack(str(tmp_path), environ={"BANK_KAFKA_BOOTSTRAP": "kafka:9092"})
    assert external.topic_partitions == DEFAULT_TOPIC_PARTITIONS


def test_a_count_below_one_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="kafka"):
        Settings.from_env({"BANK_KAFKA_TOPIC_PARTITIONS": "0"})
