"""settle_heap: what lives at start-up is frozen out of the collector's walks."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from runtime.heap import GC_THRESHOLDS, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settling_freezes_what_is_alive_and_collects_less_often(restored_collector: None) -> None:
    alive = [[i] for i in range(1_000)]  # container objects that outlive the call
    settle_heap()
    assert gc.get_freeze_count() >= len(alive)
    assert gc.get_threshold() == GC_THRESHOLDS
    walked = {id(x) for x in gc.get_objects()}  # the three generations, not the frozen
    assert not any(id(x) in walked for x in alive)


def test_cycles_made_after_settling_are_still_collected(restored_collector: None) -> None:
    """By the collector on its own (no gc.collect): it is not switched off."""
    settle_heap()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collections.append(info["collected"])

    gc.callbacks.append(seen)
    try:
        for _ in range(GC_THRESHOLDS[0]):  # enough cycles to pass the young threshold
            a: list[object] = []
            a.append(a)
            del a
    finally:
        gc.callbacks.remove(seen)
    assert collections and sum(collections) > 0
