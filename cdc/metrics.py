"""The connector's own Prometheus metrics, served on settings.cdc_metrics_port."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import asyncpg
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    make_wsgi_app,
)

from cdc.health import PROCESS, Progress, with_health
from runtime.observability.pipeline import register_progress_gauges

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


class Metrics:
    def __init__(
        self, registry: CollectorRegistry | None = None, progress: Progress | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.progress = progress or Progress(stall_seconds=30.0)
        r = self.registry
        # Names of infra/prometheus/metrics-contract.yml (alerts and dashboards read them).
        self.records = Counter(
            "bank_cdc_records",
            "Records published to Kafka and acknowledged (acks=all)",
            ["topic"],
            registry=r,
        )
        self.changes = Counter("cdc_changes", "Row changes decoded from the WAL", registry=r)
        self.records_per_second = Gauge(
            "cdc_records_per_second", "Records acknowledged per second, last interval", registry=r
        )
        self.lag_bytes = Gauge(
            "bank_cdc_lag_bytes",
            "Server WAL end minus the LSN confirmed to PostgreSQL after Kafka acked",
            registry=r,
        )
        self.lag_bytes.set_function(lambda: self.progress.slot_lag_bytes)
        # The "Pipeline health" contract (cdc/health.py), computed when scraped.
        register_progress_gauges(
            PROCESS, self.progress.last_progress_age, self.progress.stalled, registry=r
        )
        Gauge(
            "bank_cdc_heartbeat_age_seconds",
            "Seconds since Kafka last acked a cdc.heartbeat record (-1: none yet)",
            registry=r,
        ).set_function(self.progress.heartbeat_age)
        self.commit_to_ack = Histogram(
            "cdc_commit_to_ack_seconds",
            "Time from a transaction's commit in PostgreSQL to Kafka acking all its records",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lag_ms = Gauge(
            "bank_cdc_lag_ms",
            "Commit-to-ack time of the last acked transaction (ms); 0 when idle and caught up",
            registry=r,
        )
        self.slot_retained = Gauge(
            "bank_replication_slot_retained_wal_bytes",
            "pg_current_wal_lsn() - restart_lsn of the replication slot (WAL PostgreSQL keeps)",
            ["slot"],
            registry=r,
        )
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes
        self.confirmed_lsn = Gauge(
            "cdc_confirmed_lsn", "Last LSN confirmed to PostgreSQL (flush_lsn)", registry=r
        )
        self.errors = Counter("cdc_errors", "Errors by kind", ["kind"], registry=r)
        self.dead_letters = Counter(
            "cdc_dead_letters", "Rows sent to the dead-letter topic", registry=r
        )
        self.restarts = Counter(
            "cdc_pipeline_restarts", "Pipeline restarts after a failure", registry=r
        )
        self.topics_recreated = Counter(
            "cdc_topics_created", "Topics created (at start and after a broker reset)", registry=r
        )
        self.inflight = Gauge("cdc_inflight_records", "Records sent but not yet acked", registry=r)
        self.topic_recycles = Counter(
            "cdc_topic_recycles",
            "Topic recycles on a broker without retention (cdc/recycle.py), by outcome:"
            " recycled | behind | postponed | unacknowledged | stopped",
            ["outcome"],
            registry=r,
        )
        self.stored_batches = Gauge(
            "cdc_broker_stored_batches",
            "Batches this connector sent to the fullest partition of the recyclable"
            " topics since it started or last recycled them",
            registry=r,
        )
        self.snapshot_rows = Counter(
            "cdc_snapshot_rows", "Rows emitted by initial snapshots", registry=r
        )

    def serve(self, port: int, addr: str = "127.0.0.1") -> WSGIServer:
        """/metrics and /health on ``port``, from a thread of their own (answers
        even when the event loop is stuck, which is when /health matters)."""
        app = with_health(self.progress, make_wsgi_app(self.registry))
        httpd = make_server(addr, port, app, _Server, handler_class=_QuietHandler)
        threading.Thread(target=httpd.serve_forever, name="cdc-metrics", daemon=True).start()
        return httpd

    def topics_acked(self, topics: dict[str, int]) -> None:
        for topic, n in topics.items():
            self.records.labels(topic).inc(n)

    async def watch_slot(
        self,
        dsn: str,
        slot: str,
        stop: asyncio.Event,
        every: float = 2.0,
        on_lost: Callable[[], None] = lambda: None,
        on_connected: Callable[[], None] = lambda: None,
    ) -> None:
        """Poll the WAL the slot retains until ``stop`` is set (own connection, reconnects).
        ``on_lost()`` when PostgreSQL ends the connection (a shutdown ends every session
        at once, before its walsender waits for the connector's last confirmation) and
        after every failed attempt, ``on_connected()`` each time it is connected."""
        sql = (
            "SELECT (pg_current_wal_lsn() - restart_lsn)::float8 AS retained,"
            " (pg_current_wal_lsn() - confirmed_flush_lsn)::float8 AS lag"
            " FROM pg_replication_slots WHERE slot_name = $1"
        )
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(dsn)

                def lost(_: object) -> None:
                    on_lost()

                conn.add_termination_listener(lost)
                on_connected()
                try:
                    while not stop.is_set():
                        row = await conn.fetchrow(sql, slot)
                        if row is not None and row["retained"] is not None:
                            self.slot_retained.labels(slot).set(row["retained"])
                        if row is not None and row["lag"] is not None:
                            # The server's view: seen even when no session streams.
                            self.progress.slot_lag_bytes = max(0, int(row["lag"]))
                        await _wait(stop, every)
                finally:
                    conn.remove_termination_listener(lost)  # our own close is no loss
                    await conn.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("replication slot watch: %s", exc)
                on_lost()  # not connected: PostgreSQL is away until it is again
                await _wait(stop, every)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
