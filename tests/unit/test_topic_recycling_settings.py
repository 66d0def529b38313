"""Who recycles topics, and when (cdc/recycle.py, docs/adr/0320): only a connector
told to, which the embedded stack does and a stack on a real Kafka does not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cdc.recycle import Recycler
from infra.local.stack import (
    EMBEDDED_RECYCLE_AFTER_BATCHES,
    EMBEDDED_RECYCLE_AFTER_MIB,
    EmbeddedStack,
)
from runtime.settings import KafkaSettings, Settings
from shared.topics import KEPT_TOPICS, READERS, topic_specs


def test_a_real_kafka_is_never_recycled_by_default() -> None:
    kafka = Settings().kafka
    assert (kafka.recycle_after_batches, kafka.recycle_after_mib) == (0, 0)
    assert not Recycler.enabled(kafka)
    with pytest.raises(ValueError, match="kafka"):
        Settings.from_env({"BANK_KAFKA_RECYCLE_AFTER_BATCHES": "-1"})


def test_the_embedded_stack_recycles_unless_told_or_forbidden(tmp_path: Path) -> None:
    env = EmbeddedStack(str(tmp_path), environ={}).env()
    assert env["BANK_KAFKA_RECYCLE_AFTER_BATCHES"] == str(EMBEDDED_RECYCLE_AFTER_BATCHES)
    assert env["BANK_KAFKA_RECYCLE_AFTER_MIB"] == str(EMBEDDED_RECYCLE_AFTER_MIB)
    assert Recycler.enabled(Settings.from_env(env).kafka)

    told = EmbeddedStack(str(tmp_path), environ={"BANK_KAFKA_RECYCLE_AFTER_BATCHES": "0"})
    assert told.env()["BANK_KAFKA_RECYCLE_AFTER_BATCHES"] == "0"

    forbidden = EmbeddedStack(
        str(tmp_path), environ={"BANK_KAFKA_RECYCLE_AFTER_BATCHES": "9"}, recycle_topics=False
    )
    assert forbidden.env()["BANK_KAFKA_RECYCLE_AFTER_BATCHES"] == "0"
    assert forbidden.env()["BANK_KAFKA_RECYCLE_AFTER_MIB"] == "0"

    external = EmbeddedStack(str(tmp_path), environ={"BANK_KAFKA_BOOTSTRAP": "kafka:9092"})
    assert external.env()["BANK_KAFKA_RECYCLE_AFTER_BATCHES"] == "0"


def _recycler(batches: int, mib: int, now: list[float]) -> tuple[Recycler, Any]:
    settings = KafkaSettings(recycle_after_batches=batches, recycle_after_mib=mib)
    publisher: Any = SimpleNamespace(stored_batches=0, stored_bytes=0)
    return Recycler(settings, publisher, clock=lambda: now[0]), publisher


def test_a_recycle_is_due_at_either_threshold() -> None:
    now = [0.0]
    recycler, pub = _recycler(100, 2, now)
    assert not recycler.due()
    pub.stored_batches = 100
    assert recycler.due()
    pub.stored_batches, pub.stored_bytes = 1, 2 * 1024 * 1024
    assert recycler.due()

    only_bytes, pub = _recycler(0, 1, now)
    pub.stored_batches = 10**9
    assert not only_bytes.due()


def test_the_groups_waited_for_read_only_topics_that_are_recycled() -> None:
    names = {s.name for s in topic_specs()}
    for topics in READERS.values():
        assert set(topics) <= names - KEPT_TOPICS
