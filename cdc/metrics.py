"""The connector's own Prometheus metrics, served on settings.cdc_metrics_port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "cdc_records", "Kafka records acknowledged (acks=all)", registry=r
        )
        self.changes = Counter("cdc_changes", "Row changes decoded from the WAL", registry=r)
        self.records_per_second = Gauge(
            "cdc_records_per_second", "Records acknowledged per second, last interval", registry=r
        )
        self.lag_bytes = Gauge(
            "cdc_replication_lag_bytes",
            "Server WAL end minus the LSN confirmed to PostgreSQL",
            registry=r,
        )
        self.commit_to_ack = Histogram(
            "cdc_commit_to_ack_seconds",
            "Time from a transaction's commit in PostgreSQL to Kafka acking all its records",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lag_ms = Gauge(
            "cdc_replication_lag_ms", "Commit-to-ack time of the last acked transaction (ms)", registry=r
        )
        self.confirmed_lsn = Gauge(
            "cdc_confirmed_lsn", "Last LSN confirmed to PostgreSQL (flush_lsn)", registry=r
        )
        self.errors = Counter("cdc_errors", "Errors by kind", ["kind"], registry=r)
        self.dead_letters = Counter(
            "cdc_dead_letters", "Rows sent to the dead-letter topic", registry=r
        )
        self.restarts = Counter("cdc_pipeline_restarts", "Pipeline restarts after a failure", registry=r)
        self.topics_recreated = Counter(
            "cdc_topics_created", "Topics created (at start and after a broker reset)", registry=r
        )
        self.inflight = Gauge("cdc_inflight_records", "Records sent but not yet acked", registry=r)
        self.snapshot_rows = Counter("cdc_snapshot_rows", "Rows emitted by initial snapshots", registry=r)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
