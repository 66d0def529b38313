"""The connector's stall rule: progress, not just liveness (issue #11 item 2)."""

from __future__ import annotations

import io
from typing import Any

import msgspec

from cdc.health import Progress, with_health
from tests.support.clock import Clock


def progress(stall: float = 30.0) -> tuple[Progress, Clock]:
    clock = Clock()
    return Progress(stall, clock=clock), clock


def test_a_connector_that_has_not_streamed_yet_is_starting_then_stalled() -> None:
    p, clock = progress()
    clock.now += 29
    assert p.report().status == "starting"
    clock.now += 2  # e.g. every broker bootstrap times out: it never gets going
    report = p.report()
    assert report.status == "stalled" and report.last_progress_age_seconds == 31


def test_a_snapshot_longer_than_the_threshold_is_starting_while_its_rows_move() -> None:
    p, clock = progress()
    for _ in range(10):  # 100 s of snapshot, rows handed to the producer all along
        clock.now += 10
        p.snapshot_row_sent()
        assert p.report().status == "starting"
    clock.now += 31  # the producer took nothing more (the broker acks nothing)
    assert p.report().status == "stalled"


def test_a_streaming_connector_that_confirms_is_ok() -> None:
    p, clock = progress()
    p.session_started()
    p.slot_lag_bytes = 4096
    for _ in range(10):
        clock.now += 20
        p.confirmed()
        assert p.report().status == "ok"


def test_idle_with_nothing_to_do_is_progress() -> None:
    p, clock = progress()
    p.session_started()
    clock.now += 600
    p.measured(slot_lag_bytes=0, inflight_records=0)  # the tick finds nothing to do
    report = p.report()
    assert report.status == "ok" and report.last_progress_age_seconds == 0


def test_a_tick_that_stops_coming_round_is_a_stall_even_after_an_idle_look() -> None:
    p, clock = progress()
    p.session_started()
    p.measured(slot_lag_bytes=0, inflight_records=0)
    clock.now += 30
    assert p.report().status == "ok"
    clock.now += 1  # the loop is stuck: its last look says idle, and is 31 s old
    report = p.report()
    assert report.status == "stalled" and report.last_progress_age_seconds == 31
    p.measured(slot_lag_bytes=0, inflight_records=0)  # it comes round again
    assert p.report().status == "ok"


def test_wal_left_unconfirmed_beyond_the_threshold_is_a_stall() -> None:
    p, clock = progress()
    p.session_started()
    p.confirmed()
    p.slot_lag_bytes = 10_000  # the server wrote WAL the connector does not move past
    clock.now += 30
    assert p.report().status == "ok"
    clock.now += 0.5
    assert p.report().status == "stalled"
    p.confirmed()
    assert p.report().status == "ok"


def test_records_in_flight_too_long_are_a_stall_even_with_the_slot_caught_up() -> None:
    p, clock = progress()
    p.session_started()
    p.measured(slot_lag_bytes=0, inflight_records=5)
    clock.now += 31
    p.measured(slot_lag_bytes=0, inflight_records=5)
    assert p.report().status == "stalled"


def test_wal_held_for_a_consumer_group_is_not_a_stall_while_records_are_acked() -> None:
    """On a memory-only broker the slot waits for the consumer groups (cdc/readers_hold.py):
    a lagging consumer is not the connector's stall, as long as its own records move."""
    p, clock = progress()
    p.session_started()
    p.confirmed()
    clock.now += 31  # a consumer is down: nothing confirmed for 31 s
    p.measured(10_000, 40, held_for_readers=True, acked_since_last=True)
    assert p.report().status == "ok"
    clock.now += 31  # idle since, nothing in flight: still only waiting for the group
    p.measured(10_000, 0, held_for_readers=True)
    assert p.report().status == "ok"
    clock.now += 31  # records in flight and no ack for 31 s: the connector is stuck
    p.measured(10_000, 40, held_for_readers=True)
    assert p.report().status == "stalled"
    p.measured(10_000, 40)  # not held: WAL it does not confirm is its own stall
    assert p.report().status == "stalled"


def test_a_heartbeat_acked_counts_only_when_there_is_nothing_else_to_do() -> None:
    p, clock = progress()
    p.session_started()
    p.slot_lag_bytes = 1
    clock.now += 31
    p.heartbeat_acked()  # Kafka answers, yet the slot does not move: still stuck
    report = p.report()
    assert report.status == "stalled" and report.heartbeat_age_seconds == 0
    clock.now += 2
    assert p.report().heartbeat_age_seconds == 2


def test_a_lost_session_is_work_not_idleness() -> None:
    p, clock = progress()
    p.session_started()
    p.session_ended()  # e.g. PostgreSQL is down: the connector cannot show it is idle
    clock.now += 31
    assert p.report().status == "stalled"
    p.session_started()
    p.confirmed()
    assert p.report().status == "ok"


def call(app: Any, path: str) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "wsgi.input": io.BytesIO()}, start_response))
    return seen["status"], seen["headers"], body


def test_get_health_answers_the_contract_and_503_when_stalled() -> None:
    p, clock = progress(stall=10)

    def metrics_app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"metrics"]

    app = with_health(p, metrics_app)
    p.session_started()
    p.slot_lag_bytes = 123
    status, headers, body = call(app, "/health")
    assert status.startswith("200") and headers["Content-Type"] == "application/json"
    assert msgspec.json.decode(body) == {
        "process": "cdc",
        "status": "ok",
        "last_progress_age_seconds": 0.0,
        "stall_threshold_seconds": 10,
        "slot_lag_bytes": 123,
        "heartbeat_age_seconds": None,
    }
    clock.now += 11
    status, headers, body = call(app, "/health")
    assert status.startswith("503") and "Retry-After" in headers
    assert msgspec.json.decode(body)["status"] == "stalled"
    assert call(app, "/metrics")[2] == b"metrics"
