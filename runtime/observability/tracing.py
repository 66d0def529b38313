"""OpenTelemetry tracing, exported over OTLP/HTTP only when an endpoint is set
(``BANK_OTEL_EXPORTER_OTLP_ENDPOINT``, or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; Jaeger accepts OTLP on :4318). Off
otherwise: no provider is installed and every helper here is a no-op costing
one attribute check.

One deposit, one trace: the API's server span (trace id from the W3C
``traceparent`` header, or new) -> ``command deposit_money`` -> ``event_store.append``;
the trace id is stored in the event metadata and travels in the Kafka headers;
the CDC connector and the projection worker start their spans as children of
a remote parent built from that trace id. The remote parent's span id is the
low 64 bits of the trace id, and the API gives its server span exactly that id,
so the pipeline's spans hang under the request in Jaeger.

Sampling follows ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG``; downstream
processes apply the same trace-id ratio rule, so they keep the traces the API kept.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    Tracer,
)

_tracer: Tracer | None = None
_ratio_bound = 1 << 64  # keep every trace unless a ratio sampler is configured
_LOW64 = (1 << 64) - 1
_NULL = contextlib.nullcontext()
# The span id the next span created in this context must take (the API's server span).
_NEXT_SPAN_ID: ContextVar[int | None] = ContextVar("bank_next_span_id", default=None)
_NEXT_TRACE_ID: ContextVar[int | None] = ContextVar("bank_next_trace_id", default=None)


def otlp_endpoint(configured: str = "") -> str | None:
    """Where spans go: the BANK_ setting, else the standard OTEL_ variables, else nowhere."""
    for value in (
        configured,
        os.environ.get("BANK_OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
    ):
        if value.strip():
            return value.strip()
    return None


def _traces_url(endpoint: str) -> str:
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip() == endpoint:
        return endpoint  # the per-signal variable is a full URL already
    return (
        endpoint
        if endpoint.rstrip("/").endswith("/v1/traces")
        else endpoint.rstrip("/") + "/v1/traces"
    )


def configure_tracing(service: str, endpoint: str = "", *, exporter: Any = None) -> bool:
    """Install an OTLP-exporting tracer provider when an endpoint is configured
    (or one exporting to ``exporter``, synchronously: tests)."""
    global _tracer, _ratio_bound
    url = otlp_endpoint(endpoint)
    if url is None and exporter is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class _IdGenerator(RandomIdGenerator):
        def generate_span_id(self) -> int:
            wanted = _NEXT_SPAN_ID.get()
            if wanted is not None:
                _NEXT_SPAN_ID.set(None)
                return wanted
            return super().generate_span_id()

        def generate_trace_id(self) -> int:
            wanted = _NEXT_TRACE_ID.get()
            if wanted is not None:
                _NEXT_TRACE_ID.set(None)
                return wanted
            return super().generate_trace_id()

    name = os.environ.get("OTEL_SERVICE_NAME") or f"bank-{service}"
    provider = TracerProvider(
        resource=Resource.create({"service.name": name}), id_generator=_IdGenerator()
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        assert url is not None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_traces_url(url))))
        trace.set_tracer_provider(provider)  # for libraries that trace on their own
    _tracer = provider.get_tracer("bank")
    if os.environ.get("OTEL_TRACES_SAMPLER", "").endswith("traceidratio"):
        try:
            ratio = min(max(float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1")), 0.0), 1.0)
        except ValueError:
            ratio = 1.0
        _ratio_bound = round(ratio * (1 << 64))
    return True


def disable_tracing() -> None:
    """Back to no tracing (tests)."""
    global _tracer, _ratio_bound
    _tracer = None
    _ratio_bound = 1 << 64


def enabled() -> bool:
    return _tracer is not None


def tracer() -> Tracer | None:
    return _tracer


def span(name: str, attributes: Mapping[str, Any] | None = None) -> Any:
    """A child span of the current one, as a context manager (a no-op when off)."""
    if _tracer is None:
        return _NULL
    return _tracer.start_as_current_span(name, attributes=attributes)


def remote_parent(trace_id: str | None) -> Context | None:
    """A context whose parent is the API's server span of ``trace_id`` (see the module doc)."""
    if not trace_id:
        return None
    try:
        tid = int(trace_id, 16)
    except ValueError:
        return None
    if tid == 0:
        return None
    flags = TraceFlags.SAMPLED if (tid & _LOW64) < _ratio_bound else TraceFlags.DEFAULT
    parent = SpanContext(
        trace_id=tid, span_id=(tid & _LOW64) or 1, is_remote=True, trace_flags=TraceFlags(flags)
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def record_span(
    name: str,
    trace_id: str | None,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.CONSUMER,
) -> None:
    """A finished span in ``trace_id``'s trace, for work done on its behalf elsewhere."""
    if _tracer is None:
        return
    ctx = remote_parent(trace_id)
    if ctx is None:
        return
    s = _tracer.start_span(name, context=ctx, kind=kind, attributes=attributes, start_time=start_ns)
    s.end(end_time=end_ns)


@contextlib.contextmanager
def server_span(
    name: str, trace_id: str, carrier: Mapping[str, str], attributes: Mapping[str, Any]
) -> Iterator[Any]:
    """The API's span of one request: a child of the caller's ``traceparent`` span if
    there is one, else a root span in ``trace_id`` (which the logs already carry)."""
    assert _tracer is not None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    tid = int(trace_id, 16)
    ctx: Context | None = None
    if "traceparent" in carrier:
        ctx = TraceContextTextMapPropagator().extract(carrier)
        if not trace.get_current_span(ctx).get_span_context().is_valid:
            ctx = None
    tokens = [_NEXT_SPAN_ID.set(tid & _LOW64 or 1)]
    if ctx is None:
        ctx = Context()
        tokens.append(_NEXT_TRACE_ID.set(tid))
    try:
        with _tracer.start_as_current_span(
            name, context=ctx, kind=SpanKind.SERVER, attributes=attributes
        ) as s:
            yield s
    finally:
        _NEXT_SPAN_ID.reset(tokens[0])
        if len(tokens) > 1:
            _NEXT_TRACE_ID.reset(tokens[1])
