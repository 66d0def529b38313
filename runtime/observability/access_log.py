"""The API's access line (``bank.http``, "http request"), built straight in its ECS
shape.

Every command writes one (``server/observability/http.py``). Through structlog's
processors (``runtime/observability/logging.py``) a line cost about 13 µs of CPU:
the generic ECS mapping walks every key, redaction looks at each value, structlog
binds and copies the context. This line's fields are always the same (method, route
template, status, duration, and the request's trace id, request id and user from
``runtime.observability.context``), none of them can hold a secret, so it is built
here as the finished document, with the same names, conversions and timestamp
as the generic path (``tests/unit/test_access_log.py`` holds them equal) and written
to the same stream at the same level (docs/adr/0347).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from runtime.observability.context import REQUEST_ID, TRACE_ID, current_actor
from runtime.observability.ecs import ECS_VERSION, nanoseconds
from runtime.observability.logging import get_logger, now_iso, sink

LOGGER = "bank.http"
MESSAGE = "http request"

_encoder = msgspec.json.Encoder()
_generic = get_logger(LOGGER)


def write(method: str, route: str, status: int, duration_ms: float) -> None:
    """One access line for the current request, as ``get_logger(LOGGER).info(MESSAGE,
    method=..., route=..., status=..., duration_ms=...)`` would write it."""
    out = sink()
    if out is None:  # logging not configured: structlog's defaults decide
        _generic.info(MESSAGE, method=method, route=route, status=status, duration_ms=duration_ms)
        return
    if out.level_no > logging.INFO:
        return
    request: dict[str, Any] = {"method": method}
    doc: dict[str, Any] = {
        "@timestamp": now_iso(),
        "log": {"level": "info", "logger": LOGGER},
        "message": MESSAGE,
        "service": {"name": out.process},
        "http": {"request": request, "response": {"status_code": status}},
        "url": {"path": route},
        "event": {
            "duration": nanoseconds(duration_ms),
            "kind": "event",
            "dataset": f"bank.{out.process}",
        },
        "ecs": {"version": ECS_VERSION},
    }
    trace_id = TRACE_ID.get()
    if trace_id is not None:  # as logging.add_request_context adds them
        doc["trace"] = {"id": trace_id}
        request_id = REQUEST_ID.get()
        if request_id is not None:
            request["id"] = request_id
        actor = current_actor()
        if actor is not None:
            doc["user"] = {"id": actor}
    stream = out.stream
    stream.write(_encoder.encode(doc).decode() + "\n")
    stream.flush()
