"""Prometheus metrics of the projection worker (served on
settings.projections_metrics_port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BATCH_SIZE = Histogram(
    "bank_projection_batch_size",
    "Records per projection batch",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
BATCH_DURATION = Histogram(
    "bank_projection_batch_duration_seconds",
    "Time to apply one batch (PostgreSQL transaction + Redis)",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS = Counter(
    "bank_projection_events", "Events consumed (redeliveries included)", ["event_type"]
)
DUPLICATES = Counter(
    "bank_projection_duplicates", "Redelivered events ignored (version already applied)"
)
GAP_FILLS = Counter(
    "bank_projection_gap_fills", "Events read from the event store to fill a version gap"
)
TOPIC_RESETS = Counter(
    "bank_projection_topic_resets", "Partitions seen restarting below the checkpoint", ["topic"]
)
LAG = Gauge(
    "kafka_consumer_lag", "Records behind the partition's high watermark", ["topic", "partition"]
)


DEAD_LETTERS = Counter(
    "bank_projection_dead_letters",
    "Undecodable records sent to the dead-letter topic instead of being applied",
    ["topic"],
)
PARTITION_FAILED = Gauge(
    "bank_projection_partition_failed",
    "1 while a partition is stopped after its batch failed every retry",
    ["topic", "partition"],
)
APPLY_RETRIES = Counter(
    "bank_projection_apply_retries",
    "Batches tried again after a PostgreSQL error",
    ["reason"],
)


def declare(topics: tuple[str, ...]) -> None:
    """Expose the per-topic counters at 0 from the start (a series that appears
    only with its first increment hides the rate of that increment)."""
    for topic in topics:
        DEAD_LETTERS.labels(topic)


def forget_partition(topic: str, partition: int) -> None:
    """A revoked partition is another worker's: stop exposing its series here."""
    for gauge in (LAG, PARTITION_FAILED):
        try:
            gauge.remove(topic, str(partition))
        except KeyError:
            pass
