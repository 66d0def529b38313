"""Progress, not just liveness: is the connector moving the slot forward?

The "Pipeline health" contract (one for the CDC connector and the projection
worker): ``GET /health`` on the metrics port answers
``{"process": "cdc", "status": "ok" | "stalled" | "starting",
"last_progress_age_seconds", "stall_threshold_seconds", "slot_lag_bytes",
"heartbeat_age_seconds"}``, HTTP 200 unless stalled (503).

Progress is the confirmed LSN moving forward (everything before it is in
Kafka), or having nothing to do as the connector's tick finds it: streaming,
nothing in flight and the slot caught up with the server's WAL end (a heartbeat
acked then is progress too). While a new slot's snapshot is read, each row handed
to the producer is progress: the producer takes rows only while the broker acks them
(the in-flight limit), so a snapshot longer than the threshold is not "stalled" (the
supervisor restarted it, and the restarted one began again: never done), and a broker
that takes nothing still stalls it. On a memory-only broker, while the slot waits for a
consumer group (cdc/readers_hold.py), records acked since the last tick, or
nothing in flight, are progress too. Stalled is no progress for longer than
``settings.pipeline_stall_seconds``: there is work (WAL not yet confirmed,
records in flight, or no replication session at all: a connector that cannot
stream cannot show that it is idle), or the tick has stopped coming round, so
what it last measured is stale. Before the first session streams it is
"starting", for at most the same threshold.

The answer is computed in the HTTP server's thread from plain attributes the
event loop sets, so a connector whose loop is stuck still answers "stalled".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication

import msgspec

from runtime.observability.pipeline import shown_age

PROCESS = "cdc"


class HealthReport(msgspec.Struct, kw_only=True):
    process: str = PROCESS
    status: str  # ok | stalled | starting
    last_progress_age_seconds: float
    stall_threshold_seconds: float
    slot_lag_bytes: int
    heartbeat_age_seconds: float | None  # None until a heartbeat was acked


class Progress:
    """What the connector reports; ``report()`` applies the stall rule."""

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._last_progress = clock()
        self._heartbeat_acked: float | None = None
        self._has_streamed = False
        self.streaming = False
        self.slot_lag_bytes = 0  # server WAL end - confirmed LSN
        self.inflight_records = 0

    def session_started(self) -> None:
        self.streaming = self._has_streamed = True

    def session_ended(self) -> None:
        self.streaming = False

    def confirmed(self) -> None:
        """The confirmed LSN moved forward."""
        self._last_progress = self._clock()

    def snapshot_row_sent(self) -> None:
        """A row of the snapshot was handed to the producer (bounded by the in-flight
        limit: a broker that acks nothing stops this)."""
        self._last_progress = self._clock()

    def measured(
        self,
        slot_lag_bytes: int,
        inflight_records: int,
        *,
        held_for_readers: bool = False,
        acked_since_last: bool = False,
    ) -> None:
        """The tick's look at the slot and the publisher; idle with nothing to do is
        progress. Only the tick counts idleness: a stuck loop's last look goes stale.
        While the slot keeps WAL for a consumer group still reading it
        (cdc/readers_hold.py), the confirmed LSN waits for that group, so records
        acked since the last tick, or nothing in flight, are the progress: a lagging
        consumer is watched by its own health, and restarting the connector would not
        help it."""
        self.slot_lag_bytes = slot_lag_bytes
        self.inflight_records = inflight_records
        held_but_moving = held_for_readers and (acked_since_last or not inflight_records)
        if not self.has_work or held_but_moving:
            self._last_progress = self._clock()

    def heartbeat_acked(self) -> None:
        now = self._heartbeat_acked = self._clock()
        if not self.has_work:
            self._last_progress = now

    @property
    def has_work(self) -> bool:
        return not self.streaming or self.slot_lag_bytes > 0 or self.inflight_records > 0

    def report(self) -> HealthReport:
        now = self._clock()
        age = now - self._last_progress
        if age > self.stall_seconds:
            status = "stalled"
        elif not self._has_streamed:
            status = "starting"
        else:
            status = "ok"
        hb = self._heartbeat_acked
        return HealthReport(
            status=status,
            last_progress_age_seconds=shown_age(age),
            stall_threshold_seconds=self.stall_seconds,
            slot_lag_bytes=self.slot_lag_bytes,
            heartbeat_age_seconds=None if hb is None else round(now - hb, 3),
        )

    def last_progress_age(self) -> float:
        return self.report().last_progress_age_seconds

    def stalled(self) -> bool:
        return self.report().status == "stalled"

    def heartbeat_age(self) -> float:
        age = self.report().heartbeat_age_seconds
        return -1.0 if age is None else age


_encoder = msgspec.json.Encoder()


def with_health(progress: Progress, metrics_app: WSGIApplication) -> WSGIApplication:
    """``GET /health`` from ``progress``; every other path to the metrics app."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/health":
            return metrics_app(environ, start_response)
        report = progress.report()
        status = "503 Service Unavailable" if report.status == "stalled" else "200 OK"
        body = _encoder.encode(report)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if report.status == "stalled":
            headers.append(("Retry-After", "5"))
        start_response(status, headers)
        return [body]

    return app
