"""How the chaos suite reads its own record: when the read side was back after a fault,
and which answers count against the HTTP edge (no servers: a record made by hand)."""

from __future__ import annotations

import math
import time

from bench.chaos.ledger import ACCEPTED, Answer, Command, Ledger, Session
from bench.chaos.probe import Probe, ReadLagProbe


def _probe(sent: float, answered: float, seen: float | None, version: int = 1) -> Probe:
    cmd = Command("deposit", "/p", {}, Session("a@b.c", "pw"), ("acc",), 1)
    cmd.first_sent, cmd.answered, cmd.outcome = sent, answered, ACCEPTED
    cmd.response = {"version": version}
    return Probe(cmd, seen)


def _record(*probes: Probe) -> ReadLagProbe:
    record = ReadLagProbe.__new__(ReadLagProbe)
    record.probes = list(probes)
    return record


def test_the_read_side_is_back_from_the_first_probe_after_which_none_was_late() -> None:
    t = 1000.0
    record = _record(
        _probe(t + 0.1, t + 0.2, t + 0.3),  # fine before the damage showed
        _probe(t + 1.0, t + 1.1, t + 6.0),  # 4.9 s late: the projection was down
        _probe(t + 2.0, t + 2.1, t + 6.0),
        _probe(t + 6.5, t + 6.6, t + 6.8),  # back
        _probe(t + 7.0, t + 7.1, t + 7.3),
    )
    assert record.back_at(t, t + 10) == t + 6.8
    assert math.isclose(record.max_lag(t, t + 10), 4.9)


def test_a_probe_never_seen_means_the_read_side_never_came_back() -> None:
    t = time.time() - 60
    record = _record(_probe(t + 1, t + 1.1, t + 1.2), _probe(t + 2, t + 2.1, None))
    assert record.back_at(t, t + 10) is None
    assert record.max_lag(t, t + 10) > 50  # still growing: at least the time since its 201


def test_the_window_ends_early_only_once_recent_probes_were_seen_in_time() -> None:
    now = time.time()
    seen_in_time = _record(*(_probe(now - 3 + i, now - 2.9 + i, now - 2.7 + i) for i in range(3)))
    assert seen_in_time.healthy_since(now - 3.5)
    one_not_yet_seen = _record(
        _probe(now - 3, now - 2.9, now - 2.7), _probe(now - 2, now - 1.9, now - 1.7)
    )
    one_not_yet_seen.probes.append(_probe(now - 0.2, now - 0.1, None))
    assert not one_not_yet_seen.healthy_since(now - 3.5)
    late_then_fine = _record(
        _probe(now - 9, now - 8.9, now - 4.0),  # late while the worker restarted
        *(_probe(now - 3 + i, now - 2.9 + i, now - 2.7 + i) for i in range(3)),
    )
    assert late_then_fine.healthy_since(now - 9.5)


def test_only_503_is_an_acceptable_5xx_and_it_must_say_when_to_retry() -> None:
    ledger = Ledger()
    ledger.answers += [
        Answer(1.0, 503, "/x", retry_after=True),
        Answer(2.0, 503, "/x", retry_after=False),
        Answer(3.0, 500, "/x"),
        Answer(4.0, 502, "/x"),
        Answer(5.0, None, "/x", "ConnectError"),
        Answer(6.0, 201, "/x"),
    ]
    assert [a.status for a in ledger.server_errors()] == [500, 502]
    assert [a.at for a in ledger.unavailable_without_retry_after()] == [2.0]
    assert ledger.statuses() == {"503": 2, "500": 1, "502": 1, "no_answer": 1, "201": 1}


def test_a_probe_counts_for_the_fault_during_which_it_was_accepted_not_sent() -> None:
    t = 1000.0
    redis_killed, redis_window_end, postgres_killed = t, t + 5.0, t + 6.0
    record = _record(
        _probe(t + 0.5, t + 2.0, t + 2.2),  # refused (503) until Redis was back, then fine
        _probe(t + 4.5, t + 4.6, t + 4.8),
        # Sent during Redis's window, answered only after PostgreSQL was killed: late
        # because of PostgreSQL, so it is PostgreSQL's probe.
        _probe(t + 4.9, t + 6.5, t + 9.0),
        _probe(t + 9.5, t + 9.6, t + 9.8),
    )
    assert record.back_at(redis_killed, redis_window_end) == redis_killed  # never behind
    assert record.max_lag(redis_killed, redis_window_end) < 1.0
    assert record.back_at(postgres_killed, t + 12.0) == t + 9.8
    assert math.isclose(record.max_lag(postgres_killed, t + 12.0), 2.5)


def test_a_write_outage_is_not_read_lag_but_a_write_not_yet_seen_at_the_fault_is() -> None:
    t = 1000.0
    api_down = _record(
        _probe(t - 0.5, t - 0.4, t - 0.2),  # seen before the kill: not this fault's
        _probe(t - 0.1, t + 7.0, t + 7.2),  # no answer until the API was back, then fine
        _probe(t + 7.1, t + 7.3, t + 7.5),
    )
    assert api_down.back_at(t, t + 10) == t
    cdc_down = _record(
        _probe(t - 0.4, t - 0.3, t + 2.5),  # accepted just before the kill, seen late
        _probe(t + 0.5, t + 0.6, t + 2.5),
        _probe(t + 3.0, t + 3.1, t + 3.3),
    )
    assert cdc_down.back_at(t, t + 10) == t + 3.3
    assert math.isclose(cdc_down.max_lag(t, t + 10), 2.8)
    nothing_accepted_since = _record(_probe(t - 0.5, t - 0.4, t - 0.2))
    assert nothing_accepted_since.back_at(t, t + 10) is None
