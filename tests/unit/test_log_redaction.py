"""The JSON log lines never carry a password, token or secret, whatever a careless
log call hands them, and carry the request's trace id, request id and actor."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from uuid import uuid4

import pytest

from runtime.observability import context
from runtime.observability.logging import REDACTED, configure_logging, get_logger, scrub

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwic2lkIjoiYWJjIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PASSWORD = "correct horse battery staple"
REFRESH = "rt_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    configure_logging("unit", stream=buf)
    yield buf
    configure_logging("unit")  # back to stderr


def lines(buf: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(ln) for ln in buf.getvalue().splitlines() if ln.strip()]


def test_values_under_sensitive_keys_are_replaced(out: io.StringIO) -> None:
    get_logger("t").info(
        "signed in",
        password=PASSWORD,
        refresh_token=REFRESH,
        access_token=JWT,
        headers={"Authorization": f"Bearer {JWT}", "Cookie": "session=abc", "Accept": "json"},
        client_secret="s3cr3t-value",
        email="ada@example.com",
    )
    text = out.getvalue()
    for secret in (PASSWORD, REFRESH, JWT, "s3cr3t-value", "session=abc"):
        assert secret not in text
    (line,) = lines(out)
    custom = line["bank"]  # what a log call passed beyond the ECS fields
    assert custom["password"] == REDACTED and custom["headers"]["Authorization"] == REDACTED
    assert custom["headers"]["Accept"] == "json" and custom["email"] == "ada@example.com"


def test_secrets_inside_messages_and_exceptions_are_cut_out(out: io.StringIO) -> None:
    log = logging.getLogger("bank.test")
    log.warning("GET /api/v1/ws?token=%s failed", JWT)
    log.info("form: grant_type=password&username=ada&password=%s", PASSWORD.replace(" ", "+"))
    log.info('body {"refresh_token": "%s"}', REFRESH)
    try:
        raise ValueError(f"bad header Authorization: Bearer {JWT}")
    except ValueError:
        log.exception("request failed")
    get_logger("t").error("token in the event itself: Bearer abcdefghijklmnop")
    text = out.getvalue()
    for secret in (JWT, PASSWORD.replace(" ", "+"), REFRESH, "abcdefghijklmnop"):
        assert secret not in text, secret
    assert "grant_type=password" in text  # what is not a secret stays readable
    assert all(ln["log"]["logger"] for ln in lines(out))


def test_scrub_keeps_ordinary_text() -> None:
    assert scrub("deposit of 100 EUR to account 42") == "deposit of 100 EUR to account 42"
    assert scrub("password=hunter2xx") == f"password={REDACTED}"


def test_lines_inside_a_request_carry_trace_request_and_actor(out: io.StringIO) -> None:
    user = uuid4()
    tokens = (
        context.TRACE_ID.set("ab" * 16),
        context.REQUEST_ID.set("req-1"),
        context.SCOPE.set({"user": SimpleNamespace(user_id=user)}),
    )
    try:
        get_logger("t").info("inside")
        logging.getLogger("stdlib").info("inside too")
    finally:
        context.SCOPE.reset(tokens[2])
        context.REQUEST_ID.reset(tokens[1])
        context.TRACE_ID.reset(tokens[0])
    get_logger("t").info("outside")
    inside, inside_stdlib, outside = lines(out)
    for ln in (inside, inside_stdlib):
        assert ln["trace"]["id"] == "ab" * 16 and ln["http"]["request"]["id"] == "req-1"
        assert ln["user"]["id"] == str(user) and ln["service"]["name"] == "unit"
    assert "trace" not in outside
