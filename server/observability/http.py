"""The API's signals at the edge: one ASGI wrapper around Litestar's handler, and
GET /metrics.

The wrapper sits outside routing and the exception handlers (where Litestar's
own OpenTelemetry plugin sits), so it sees every final status, 404s and 500s
included. Per HTTP request it:
- picks the trace id (the server span's when tracing is on, else the W3C
  ``traceparent``'s, else a new one) and the request id (``X-Request-ID`` or new),
  and makes them current (``runtime.observability.context``) for the event
  metadata and every log line; the response carries ``X-Request-ID``;
- counts ``http_requests_total{route,method,status}`` and observes
  ``http_request_duration_seconds{route,method}``, with the route *template*
  Litestar resolved (``/api/v1/accounts/{account_id:str}/deposits``);
- writes one access-log line (``runtime.observability.access_log``, built straight
  in its ECS shape: docs/adr/0347) for every command (POST, PUT, DELETE, ...), every
  4xx/5xx and every request slower than ``SLOW_REQUEST_SECONDS``; a successful
  read (GET/HEAD) is only counted in the metrics: its log line cost 23 µs of CPU,
  more than the request metrics and ids together (docs/adr/0300-a-cheap-request.md).
WebSocket sessions are not HTTP requests: they move ``bank_websocket_connections``.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Litestar, Response, get

from runtime.observability import access_log, context, tracing
from server.observability.metrics import WEBSOCKETS, exposition, observe_http, watch_pool

_UNMATCHED = "unmatched"
_QUIET_METHODS = frozenset({"GET", "HEAD"})
SLOW_REQUEST_SECONDS = 1.0


@get("/metrics", include_in_schema=False, sync_to_thread=False, opt={"exclude_from_auth": True})
def metrics_endpoint() -> Response[bytes]:
    body, content_type = exposition()
    return Response(content=body, media_type=content_type, status_code=200)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class ObservedASGI:
    """Wraps ``app.asgi_handler``; see the module doc."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = scope["headers"]
        traceparent = _header(headers, b"traceparent")
        trace_id = context.trace_id_from_traceparent(traceparent) or context.new_trace_id()
        request_id = (
            context.valid_request_id(_header(headers, b"x-request-id")) or context.new_request_id()
        )
        tokens = (
            context.TRACE_ID.set(trace_id),
            context.REQUEST_ID.set(request_id),
            context.SCOPE.set(scope),
        )
        status = 500
        rid_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        method = scope["method"]
        try:
            if tracing.enabled():
                carrier = {"traceparent": traceparent} if traceparent else {}
                attrs = {
                    "http.request.method": method,
                    "url.path": scope["path"],
                    "bank.request_id": request_id,
                }
                with tracing.server_span(f"{method}", trace_id, carrier, attrs) as span:
                    try:
                        await self.app(scope, receive, send_wrapper)
                    finally:
                        route = scope.get("path_template") or _UNMATCHED
                        span.update_name(f"{method} {route}")
                        span.set_attribute("http.route", route)
                        span.set_attribute("http.response.status_code", status)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or _UNMATCHED
            observe_http(route, method, status, seconds)
            if status >= 400 or method not in _QUIET_METHODS or seconds > SLOW_REQUEST_SECONDS:
                access_log.write(method, route, status, round(seconds * 1000, 3))
            context.SCOPE.reset(tokens[2])
            context.REQUEST_ID.reset(tokens[1])
            context.TRACE_ID.reset(tokens[0])

    async def _websocket(self, scope: Any, receive: Any, send: Any) -> None:
        accepted = False

        async def send_wrapper(message: Any) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                WEBSOCKETS.inc()
            await send(message)

        token = context.SCOPE.set(scope)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if accepted:
                WEBSOCKETS.dec()
            context.SCOPE.reset(token)


def instrument_app(app: Litestar, service: str = "api") -> Litestar:
    """Wrap the app's ASGI handler, take over logging, start tracing if configured,
    and expose the app's connection pool. Call once, after ``Litestar(...)``."""
    from runtime.observability.logging import configure_logging

    settings = app.state.get("settings")
    configure_logging(service, level=getattr(settings, "log_level", "INFO") or "INFO")
    tracing.configure_tracing(service, getattr(settings, "otel_exporter_otlp_endpoint", "") or "")
    if not isinstance(app.asgi_handler, ObservedASGI):
        app.asgi_handler = ObservedASGI(app.asgi_handler)

    def commands_pool() -> Any:
        # The API's one PostgreSQL pool (commands and read models share it).
        services = app.state.get("services")
        return getattr(getattr(services, "ctx", None), "pool", None)

    watch_pool("commands", commands_pool)
    return app
