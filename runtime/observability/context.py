"""The current request's trace id, request id and ASGI scope (contextvars).

Set once by the API's ASGI wrapper (``server.observability.http``) and read by
the event metadata (so the trace id in the event store, the Kafka headers and
every log line is the same one) and by the log processor that adds them.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar
from typing import Any

TRACE_ID: ContextVar[str | None] = ContextVar("bank_trace_id", default=None)
REQUEST_ID: ContextVar[str | None] = ContextVar("bank_request_id", default=None)
SCOPE: ContextVar[dict[str, Any] | None] = ContextVar("bank_scope", default=None)

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_ZERO_TRACE = "0" * 32


def current_trace_id() -> str | None:
    return TRACE_ID.get()


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def trace_id_from_traceparent(value: str | None) -> str | None:
    """The trace id of a valid W3C ``traceparent`` header, else None."""
    if value and (m := _TRACEPARENT.match(value)) and m.group(1) != _ZERO_TRACE:
        return m.group(1)
    return None


def valid_request_id(value: str | None) -> str | None:
    return value if value is not None and _REQUEST_ID.match(value) else None


# Identifiers, not secrets: the PRNG (as OpenTelemetry's own id generator) is
# ten times cheaper than os.urandom on the hot path.
def new_trace_id() -> str:
    return f"{random.getrandbits(128) or 1:032x}"


def new_request_id() -> str:
    return f"{random.getrandbits(64):016x}"


def current_actor() -> str | None:
    """The authenticated user of the current request (set by the auth middleware)."""
    scope = SCOPE.get()
    if scope is None:
        return None
    user = scope.get("user")
    user_id = getattr(user, "user_id", None)
    return str(user_id) if user_id is not None else None
