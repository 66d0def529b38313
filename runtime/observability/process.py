"""One call at the start of a worker process (CDC connector, projection worker):
JSON logs, tracing when an OTLP endpoint is configured, lean metric exposition,
and a settled heap for the garbage collector."""

from __future__ import annotations

from typing import Any

from prometheus_client import disable_created_metrics

from runtime.heap import settle_heap
from runtime.observability.logging import configure_logging
from runtime.observability.tracing import configure_tracing


def setup_process(service: str, settings: Any) -> None:
    configure_logging(service, level=getattr(settings, "log_level", "INFO") or "INFO")
    configure_tracing(service, getattr(settings, "otel_exporter_otlp_endpoint", "") or "")
    disable_created_metrics()  # no *_created series: half the lines, nothing read them
    settle_heap()  # the modules are imported: out of the collector's sight (ADR 0309)
