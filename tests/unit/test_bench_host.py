"""The bench's host probes: the wake-up probe really passes bytes between two processes
(a round trip costs something, and at least one side's CPU), and is printed with both."""

from __future__ import annotations

import pytest

from bench import host


def test_the_wake_up_probe_times_round_trips_between_two_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(host, "ROUND_TRIPS", 2_000)
    probe = host.wakeup_probe()
    assert 0 < probe.cpu_us < probe.round_trip_us * 2  # each side: at most its wall time
    assert probe.round_trip_us < 10_000  # a round trip, not a stall
    text = str(probe)
    assert text.startswith("wake-up probe ") and "µs of CPU a side" in text
