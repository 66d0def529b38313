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


class _Offsets:
    """The groups' committed offsets and the partitions' ends, as the broker tells them."""

    def __init__(self, end: int, committed: dict[str, int]) -> None:
        self.end, self.at = end, committed

    def __call__(self, settings: object, groups: list[str]) -> _Offsets:
        return self

    async def __aenter__(self) -> _Offsets:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def ends(self, tps: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(tps, self.end)

    async def committed(self, group: str, tps: list[Any]) -> dict[Any, int | None]:
        return dict.fromkeys(tps, self.at[group])


async def test_a_reader_far_behind_is_asked_again_soon_and_one_not_at_the_end_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Step 0 (a group far behind) pauses nothing, so it asks again a second later: a
    backlog is caught up between two bursts, and the broker holds all of it meanwhile.
    A pause in vain (step 2: a group not at the end in time) waits 30 s to try again."""
    import cdc.recycle as recycle

    now = [0.0]
    settings = KafkaSettings(recycle_after_batches=10, recycle_after_mib=0)
    publisher: Any = SimpleNamespace(stored_batches=10, stored_bytes=0, partitions={"t": 1})
    readers = {"fast": ("t",), "slow": ("t",)}
    recycler = Recycler(  # step 2 looks once
        settings, publisher, readers=readers, catch_up_seconds=0.0, clock=lambda: now[0]
    )
    paused: list[float] = []

    async def pause() -> None:
        paused.append(now[0])

    async def run(end: int, slow: int) -> str:
        monkeypatch.setattr(recycle, "GroupOffsets", _Offsets(end, {"fast": end, "slow": slow}))
        return await recycler.run(pause, lambda: False, lambda: None)

    assert await run(50_000, 50_000 - recycle.MAX_LAG_RECORDS - 1) == "behind"
    assert paused == [] and not recycler.due()
    now[0] += 1.0
    assert recycler.due()

    assert await run(50_000, 50_000 - recycle.MAX_LAG_RECORDS) == "postponed"
    assert paused == [now[0]]
    now[0] += recycle.RETRY_AFTER_SECONDS - 0.1
    assert not recycler.due()
    now[0] += 0.1
    assert recycler.due()
