"""The access line built straight in its ECS shape (runtime/observability/access_log.py)
is the line the generic structlog path writes for the same call, field for field."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from runtime.observability import access_log, context
from runtime.observability.logging import configure_logging, get_logger
from tests.support.ecs import mapping, problems

ROUTE = "/api/v1/accounts/{account_id:str}/deposits"


def _both(trace_id: str | None, request_id: str | None, user: Any, level: str = "INFO") -> list:
    """The generic line and the direct one for the same request, parsed."""
    buf = io.StringIO()
    configure_logging("api", level=level, stream=buf)
    tokens = (
        context.TRACE_ID.set(trace_id),
        context.REQUEST_ID.set(request_id),
        context.SCOPE.set({"user": user} if user is not None else {}),
    )
    try:
        get_logger(access_log.LOGGER).info(
            access_log.MESSAGE, method="POST", route=ROUTE, status=201, duration_ms=3.125
        )
        access_log.write("POST", ROUTE, 201, 3.125)
    finally:
        context.SCOPE.reset(tokens[2])
        context.REQUEST_ID.reset(tokens[1])
        context.TRACE_ID.reset(tokens[0])
        configure_logging("unit")
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("trace_id", "request_id", "user"),
    [
        ("ab" * 16, "req-42", SimpleNamespace(user_id=uuid4())),  # a signed-in command
        ("ab" * 16, "req-42", None),  # refused before sign-in
        ("ab" * 16, None, None),
        (None, "req-42", SimpleNamespace(user_id=uuid4())),  # no trace: no ids, no user
    ],
)
def test_the_direct_line_is_the_generic_line(
    trace_id: str | None, request_id: str | None, user: Any
) -> None:
    generic, direct = _both(trace_id, request_id, user)
    assert problems(direct, mapping()) == []
    assert direct["@timestamp"].endswith("Z") and len(direct["@timestamp"]) == 27
    assert generic["@timestamp"] <= direct["@timestamp"]
    del generic["@timestamp"], direct["@timestamp"]
    assert direct == generic
    assert direct["event"]["duration"] == 3_125_000
    assert ("user" in direct) == (trace_id is not None and user is not None)


def test_above_info_neither_path_writes_it() -> None:
    assert _both("ab" * 16, "req-42", None, level="WARNING") == []


def test_the_timestamp_is_utc_iso_with_six_digits_of_microseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runtime.observability import logging as obs_logging

    for nanos, text in [
        (1_764_806_400_000_000_000, "2025-12-04T00:00:00.000000Z"),  # a whole second
        (1_764_806_400_123_456_789, "2025-12-04T00:00:00.123456Z"),
        (1_764_806_461_999_999_999, "2025-12-04T00:01:01.999999Z"),  # the next second's text
    ]:
        monkeypatch.setattr(obs_logging.time, "time_ns", lambda n=nanos: n)
        assert obs_logging.now_iso() == text
    monkeypatch.undo()
    stamp = datetime.fromisoformat(obs_logging.now_iso())
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 5
