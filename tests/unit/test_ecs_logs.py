"""Log lines are ECS objects whose every field fits the index template's types,
whatever a log call passes (structlog keywords, stdlib %-formatting, exceptions)."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace
from uuid import uuid4

from runtime.observability import context
from runtime.observability.logging import configure_logging, get_logger
from tests.support.ecs import mapping, problems


def test_every_kind_of_line_fits_the_index_template() -> None:
    buf = io.StringIO()
    configure_logging("api", stream=buf)
    tokens = (
        context.TRACE_ID.set("cd" * 16),
        context.REQUEST_ID.set("req-9"),
        context.SCOPE.set({"user": SimpleNamespace(user_id=uuid4())}),
    )
    try:
        log = get_logger("bank.http")
        log.info("http request", method="POST", route="/api/v1/x", status=201, duration_ms=1.5)
        log.warning("refused", code="insufficient_funds", outcome="rejected", amount=100)
        log.info("batch", events=12, trace_ids=["a", "b"], topic="account-events", nested={"k": 1})
        logging.getLogger("uvicorn.error").warning("stdlib %s line", "formatted")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("bank.errors").exception("unhandled error on %s", "POST /x")
        log.info("odd values", status="n/a", outcome="success", error="text", action="deposit")
    finally:
        context.SCOPE.reset(tokens[2])
        context.REQUEST_ID.reset(tokens[1])
        context.TRACE_ID.reset(tokens[0])
        configure_logging("unit")
    lines = [json.loads(ln) for ln in buf.getvalue().splitlines()]
    assert len(lines) == 6
    fields = mapping()
    for line in lines:
        assert problems(line, fields) == [], line
    access, refused, batch, stdlib, crash, odd = lines
    assert access["event"]["duration"] == 1_500_000  # ECS: nanoseconds
    assert access["url"]["path"] == "/api/v1/x" and access["trace"]["id"] == "cd" * 16
    assert refused["error"]["code"] == "insufficient_funds"
    assert refused["bank"] == {"outcome": "rejected", "amount": 100}
    assert batch["bank"]["kafka"]["topic"] == "account-events"
    assert (
        stdlib["message"] == "stdlib formatted line" and stdlib["log"]["logger"] == "uvicorn.error"
    )
    assert "RuntimeError: boom" in crash["error"]["stack_trace"]
    assert crash["log"]["level"] == "error"
    assert odd["event"]["outcome"] == "success" and odd["bank"]["status"] == "n/a"


def test_the_check_catches_what_the_template_would_not_take() -> None:
    bad = {
        "@timestamp": "yesterday",
        "message": "x",
        "log": {"level": "info"},
        "service": {"name": "api"},
        "ecs": {"version": "8.11.0"},
        "http": {"response": {"status_code": "201"}},
        "amount": 5,
    }
    found = problems(bad)
    assert "@timestamp='yesterday' is not a date" in found
    assert "http.response.status_code='201' is not a long" in found
    assert "amount is not in the index template" in found


def test_uvicorns_access_log_is_off_so_it_formats_nothing() -> None:
    """Our access log replaces uvicorn's: with no handler up its chain, uvicorn skips
    the per-response formatting it would otherwise do and drop (it checks once per
    connection, with ``hasHandlers``)."""
    buf = io.StringIO()
    configure_logging("api", stream=buf)
    try:
        assert not logging.getLogger("uvicorn.access").hasHandlers()
        assert logging.getLogger("uvicorn.error").hasHandlers()  # its lines still go out
        logging.getLogger("uvicorn.access").warning('127.0.0.1:1 - "GET / HTTP/1.1" 200')
        assert buf.getvalue() == ""
    finally:
        configure_logging("unit")
