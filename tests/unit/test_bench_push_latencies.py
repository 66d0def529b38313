"""The push scenario's latency of each deposit: from when it was due to the first push
of its account at or past its version."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from bench.e2e import Pushes, _push_latencies


def test_each_deposit_is_timed_to_the_first_push_at_or_past_its_version() -> None:
    pushes = {"a": [(2, 10.0), (3, 10.5), (5, 11.0)], "b": [(7, 20.0)]}
    sent = [("a", 2, 9.0), ("a", 4, 10.2), ("a", 5, 10.9), ("b", 7, 19.5)]
    errors: Counter[str] = Counter()
    assert _push_latencies(sent, pushes, errors) == pytest.approx([1.0, 0.8, 0.1, 0.5])
    assert not errors


def test_a_deposit_with_no_push_at_or_past_its_version_is_missing() -> None:
    pushes: Pushes = defaultdict(list, {"a": [(1, 1.0)]})  # as run_e2e collects them
    errors: Counter[str] = Counter()
    sent = [("a", 2, 0.5), ("c", 1, 0.5)]  # "c" never pushed at all
    assert _push_latencies(sent, pushes, errors) == []
    assert errors == Counter({"push_missing": 2})
    assert "c" not in pushes  # timing the run adds no account to what was pushed
