"""Signals of the pipeline behind the API: the CDC connector's spans per traced
record, and the projection worker's log line and spans per applied batch.

The trace id comes with each record (the ``trace_id`` Kafka header the outbox
row carries, and ``RecordedEvent.metadata.trace_id``); see ``tracing`` for how
the spans join the API request's trace.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from runtime.observability import tracing
from runtime.observability.logging import get_logger
from shared.events import RecordedEvent
from shared.topics import TRACE_ID_HEADER, header

_batch_log = get_logger("bank.projections")


def shown_age(seconds: float) -> float:
    """A pipeline process's last-progress age as its health output shows it: to the
    millisecond, rounded up, so a process stalled past its threshold never shows an age
    at the threshold (2.0004 s said "stalled" and showed 2.0 once)."""
    return math.ceil(seconds * 1000) / 1000


def register_progress_gauges(
    process: str,
    age: Callable[[], float],
    stalled: Callable[[], bool],
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """The "Pipeline health" contract's two gauges for one process, computed when
    scraped (names of infra/prometheus/metrics-contract.yml; BankPipelineStalled reads
    ``bank_pipeline_stalled``)."""
    Gauge(
        "bank_pipeline_last_progress_age_seconds",
        "Seconds since the process last made progress (idle with nothing to do counts)",
        ["process"],
        registry=registry,
    ).labels(process).set_function(age)
    Gauge(
        "bank_pipeline_stalled",
        "1 when there is work and no progress for longer than the stall threshold",
        ["process"],
        registry=registry,
    ).labels(process).set_function(lambda: float(stalled()))


def trace_publisher(pub: Any) -> None:
    """When tracing is on, record a PRODUCER span for every record that carries a
    ``trace_id`` header as the connector appends it (the hot path is untouched when off)."""
    if not tracing.enabled():
        return
    append = pub.append

    def traced_append(record: Any) -> None:
        append(record)
        trace_id = header(record.headers, TRACE_ID_HEADER)
        if trace_id is not None:
            now = time.time_ns()
            tracing.record_span(
                f"cdc publish {record.topic}",
                trace_id.decode("ascii", "replace"),
                now,
                now,
                {"messaging.system": "kafka", "messaging.destination.name": record.topic},
                kind=SpanKind.PRODUCER,
            )

    pub.append = traced_append


def observe_batch(events: Sequence[RecordedEvent], seconds: float) -> None:
    """After a batch is committed: one log line naming the traces it applied, and
    (tracing on) one CONSUMER span per event in its trace."""
    if not events:
        return
    trace_ids = list(dict.fromkeys(e.metadata.trace_id for e in events if e.metadata.trace_id))
    _batch_log.info(
        "projection batch applied",
        events=len(events),
        trace_ids=trace_ids,
        duration_ms=round(seconds * 1000, 3),
    )
    if not tracing.enabled():
        return
    end = time.time_ns()
    start = end - int(seconds * 1e9)
    for e in events:
        tracing.record_span(
            f"projection apply {type(e.event).__name__}",
            e.metadata.trace_id,
            start,
            end,
            {
                "bank.stream_id": str(e.stream_id),
                "bank.version": e.version,
                "bank.position": e.position,
            },
        )
