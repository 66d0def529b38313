"""bench.cdc's reports from the connector process: a restarted connector's CPU counts
from its own first report, never from what the stopped one reported last (the
catch-up's CPU per event once came out negative that way)."""

from __future__ import annotations

import queue

import pytest

from bench.cdc import Acks


def test_a_restarted_connectors_cpu_counts_from_its_own_first_report() -> None:
    q: queue.Queue[tuple[str, object]] = queue.Queue()
    acks = Acks(q)
    q.put(("cpu", 0.4))
    q.put(("acks", [(1, 2)]))
    acks.pump()
    assert (acks.first_cpu, acks.cpu, acks.pairs) == (0.4, 0.4, [(1, 2)])

    q.put(("cpu", 21.5))  # the stopped connector's last report, still in the queue
    acks.restart()
    assert (acks.first_cpu, acks.cpu) == (None, 0.0)

    q.put(("cpu", 0.3))  # the new one: Python started, nothing connected yet
    q.put(("acks", [(3, 4)]))
    q.put(("cpu", 1.5))
    acks.pump()
    assert acks.first_cpu == 0.3
    assert acks.cpu - acks.first_cpu == 1.2
    assert acks.pairs == [(1, 2), (3, 4)]


async def test_the_wait_counts_only_transactions_committed_since_it_began() -> None:
    """A restarted connector sends again what its slot had not confirmed: those acks
    (older commits) must not end the wait for the backlog's own."""
    q: queue.Queue[tuple[str, object]] = queue.Queue()
    acks = Acks(q)
    q.put(("acks", [(100, 500), (101, 501)]))  # sent again: committed before the backlog
    q.put(("acks", [(200, 502)]))
    await acks.wait_count(1, 1.0, since_us=200)
    assert acks.committed_since(200) == [(200, 502)]
    with pytest.raises(TimeoutError, match="only 1 of 2 transactions acked"):
        await acks.wait_count(2, 0.05, since_us=200)
