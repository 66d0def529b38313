"""The API's edge, as pure logic: what the input guard refuses, which errors mean
"a dependency is down", the per-process token bucket, the verified-token cache."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import asyncpg
import pytest
import redis.exceptions
from litestar.exceptions import NotAuthorizedException

from runtime.settings import Settings
from server.adapters.rate_limits import LocalTokenBucket
from server.api import security
from server.api.errors import unanswered, unavailable_reason
from server.api.input_guard import body_problem, target_problem
from server.graphql.problems import as_problem

JSON = b"application/json"


def _scope(query: bytes = b"", path: str = "/api/v1/admin/users") -> dict[str, object]:
    return {"path": path, "raw_path": path.encode(), "query_string": query}


@pytest.mark.parametrize(
    "query",
    [b"email=%00", b"email=a%00b", b"email=%ED%A0%80", b"email=%FF", b"email=" + b"x" * 1100],
)
def test_a_query_with_nul_bad_bytes_or_an_over_long_value_is_refused(query: bytes) -> None:
    assert target_problem(_scope(query))


def test_ordinary_queries_and_paths_pass() -> None:
    assert target_problem(_scope(b"email=ada%40example.com&limit=50")) is None
    assert target_problem(_scope(b"name=%C3%A9t%C3%A9")) is None  # UTF-8 text
    assert target_problem(_scope(path="/api/v1/accounts/\x00/balance")) is not None


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a\\u0000b"}',
        b'{"name": "\\ud800"}',
        b'{"name": "\\udc00x"}',
        b'{"name": "\\ud800\\u0041"}',
        b'{"name": "\xed\xa0\x80"}',
        b'{"name": "\xff"}',
        b'{"name": "\x00"}',
    ],
)
def test_a_body_with_nul_or_a_lone_surrogate_is_refused(body: bytes) -> None:
    assert body_problem(body, JSON)


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "Savings \\ud83d\\ude00"}',  # a surrogate pair: an emoji
        b'{"name": "a\\\\u0000b"}',  # an escaped backslash, then the text u0000
        b'{"name": "caf\xc3\xa9", "amount": 100}',
        b"",
    ],
)
def test_text_anyone_may_send_passes(body: bytes) -> None:
    assert body_problem(body, JSON) is None


def test_a_form_body_with_an_encoded_nul_is_refused() -> None:
    form = b"application/x-www-form-urlencoded"
    assert body_problem(b"grant_type=password&username=a%00b", form)
    assert body_problem(b"grant_type=password&username=ada%40example.com", form) is None


def test_dependency_errors_are_unavailable_and_our_bugs_are_not() -> None:
    assert unavailable_reason(redis.exceptions.ConnectionError("refused")) == "redis"
    assert unavailable_reason(redis.exceptions.TimeoutError()) == "redis"
    assert unavailable_reason(asyncpg.exceptions.CannotConnectNowError("starting")) == "postgres"
    assert unavailable_reason(asyncpg.exceptions.AdminShutdownError("bye")) == "postgres"
    assert unavailable_reason(asyncpg.InterfaceError("pool is closing")) == "postgres"
    assert unavailable_reason(ConnectionRefusedError()) == "postgres"
    try:
        try:
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        except redis.exceptions.ConnectionError as exc:
            raise RuntimeError("while checking the session") from exc
    except RuntimeError as wrapped:
        assert unavailable_reason(wrapped) == "redis"
    group = ExceptionGroup("both", [ValueError(), asyncpg.PostgresConnectionError()])
    assert unavailable_reason(group) == "postgres"
    assert unavailable_reason(KeyError("bug")) is None
    assert unavailable_reason(asyncpg.InterfaceError("cannot use Connection.transaction()")) is None
    assert unavailable_reason(asyncpg.UniqueViolationError()) is None


def test_a_change_that_got_no_answer_in_time_is_not_said_to_have_changed_nothing() -> None:
    """A statement timeout on a change: the database may still apply it when it answers
    (REST's outcome_unknown; GraphQL's mutations alike). A read, or a refused
    connection, changed nothing."""
    timed_out, refused = TimeoutError(), ConnectionRefusedError()
    assert unanswered(timed_out) and not unanswered(refused)
    assert "may still take effect" in as_problem(timed_out, mutation=True).message
    assert "nothing was changed" in as_problem(timed_out, mutation=False).message
    assert "nothing was changed" in as_problem(refused, mutation=True).message


def test_the_local_bucket_allows_the_burst_then_the_rate() -> None:
    bucket = LocalTokenBucket(rate=2.0, burst=3)
    t = 1000.0
    assert [bucket.take("ada", t) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("ada", t) == pytest.approx(0.5)
    assert bucket.take("ada", t + 0.5) == 0.0  # one token back after 1/rate seconds
    assert bucket.take("bob", t) == 0.0  # per subject


def _token(settings: Settings, ttl: float) -> str:
    auth = security.build_auth(settings)
    return auth.create_token(
        identifier=str(uuid.uuid4()),
        token_expiration=timedelta(seconds=ttl),
        token_extras={"role": "customer", "sid": "s1"},
    )


def _decode(settings: Settings, token: str) -> object:
    return security.SessionToken.decode(
        token, settings.jwt_secret, "HS256", require_claims=security.REQUIRED_CLAIMS
    )


def test_a_token_is_verified_once_and_not_trusted_past_its_expiry() -> None:
    settings = Settings(jwt_secret="k" * 48)
    token = _token(settings, ttl=2)
    first = _decode(settings, token)
    assert _decode(settings, token) is first  # the second time comes from the cache
    with pytest.raises(NotAuthorizedException):
        _decode(Settings(jwt_secret="other" * 10), token)  # another key: verified again
    with pytest.raises(NotAuthorizedException):
        _decode(settings, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _decode(settings, token)
        except NotAuthorizedException:
            break
        time.sleep(0.2)  # polling the expiry, under a deadline
    else:
        pytest.fail("an expired token was still accepted from the cache")
