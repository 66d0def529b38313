"""One deposit, one trace: the API's request span, the command and the append under
it, and the CDC and projection spans joining the same trace from nothing but the
trace id in the event metadata / Kafka header. And nothing at all when tracing is off."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from uuid import uuid4

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from runtime.observability import tracing
from runtime.observability.pipeline import observe_batch, trace_publisher
from server.observability import commands

LOW64 = (1 << 64) - 1


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing("unit", exporter=exporter)
    yield exporter
    tracing.disable_tracing()


async def _deposit() -> SimpleNamespace:
    with commands.append_span():
        pass
    return SimpleNamespace(replayed=False)


async def test_the_request_span_continues_the_callers_trace_and_holds_command_and_append(
    spans: InMemorySpanExporter,
) -> None:
    trace_id, caller = os.urandom(16).hex(), os.urandom(8).hex()
    carrier = {"traceparent": f"00-{trace_id}-{caller}-01"}
    with tracing.server_span("POST", trace_id, carrier, {"http.request.method": "POST"}) as s:
        await commands.observed("deposit_money", _deposit())
        s.update_name("POST /api/v1/accounts/{account_id}/deposits")
    by_name = {s.name: s for s in spans.get_finished_spans()}
    server = by_name["POST /api/v1/accounts/{account_id}/deposits"]
    command, append = by_name["command deposit_money"], by_name["event_store.append"]
    assert {format(s.context.trace_id, "032x") for s in by_name.values()} == {trace_id}
    assert server.kind == SpanKind.SERVER and server.parent.span_id == int(caller, 16)
    assert server.context.span_id == int(trace_id, 16) & LOW64  # what downstream links to
    assert command.parent.span_id == server.context.span_id
    assert append.parent.span_id == command.context.span_id


async def test_without_a_traceparent_the_request_span_is_a_root_in_the_logged_trace_id(
    spans: InMemorySpanExporter,
) -> None:
    trace_id = os.urandom(16).hex()
    with tracing.server_span("GET", trace_id, {}, {}):
        pass
    (server,) = spans.get_finished_spans()
    assert server.parent is None and format(server.context.trace_id, "032x") == trace_id


def _event(trace_id: str | None) -> SimpleNamespace:
    return SimpleNamespace(
        metadata=SimpleNamespace(trace_id=trace_id),
        event=SimpleNamespace(),
        stream_id=uuid4(),
        version=2,
        position=7,
    )


def test_cdc_and_projection_spans_join_the_request_trace(spans: InMemorySpanExporter) -> None:
    trace_id = os.urandom(16).hex()
    appended = []
    pub = SimpleNamespace(append=appended.append)
    trace_publisher(pub)
    record = SimpleNamespace(topic="account-events", headers=[("trace_id", trace_id.encode())])
    pub.append(record)
    pub.append(SimpleNamespace(topic="cdc.outbox", headers=[]))  # no trace: no span
    assert len(appended) == 2
    observe_batch([_event(trace_id), _event(None)], 0.004)  # type: ignore[list-item]
    got = spans.get_finished_spans()
    assert [s.name for s in got] == [
        "cdc publish account-events",
        "projection apply SimpleNamespace",
    ]
    for s in got:
        assert format(s.context.trace_id, "032x") == trace_id
        assert s.parent.span_id == int(trace_id, 16) & LOW64  # the API's request span
    assert got[0].kind == SpanKind.PRODUCER and got[1].kind == SpanKind.CONSUMER


def test_tracing_off_costs_nothing_and_records_nothing() -> None:
    assert not tracing.enabled()
    pub = SimpleNamespace(append=list().append)
    before = pub.append
    trace_publisher(pub)
    assert pub.append is before  # the connector's hot path is untouched
    assert tracing.span("x") is tracing.span("y")  # one shared no-op context manager
    assert tracing.otlp_endpoint("") is None or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
