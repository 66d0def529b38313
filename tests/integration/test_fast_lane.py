"""The fast lane (server/api/fast_lane.py) answers the hottest requests without the
framework's layers, exactly as the framework answers them, and hands everything else
to Litestar before anything has changed.

The app runs in process (Litestar's test client) against the test stack's PostgreSQL
and Redis, so the test can see which requests reached Litestar. A request with an
extra query parameter (``?via=framework``) is never taken by the lane and means
nothing to the route: it is the same request, answered by Litestar, to compare with.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest_asyncio
from litestar.testing import AsyncTestClient

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.api.app import create_app
from server.api.fast_lane import FastLane
from tests.support.customers import Customer, sign_up

FRAMEWORK = {"via": "framework"}
# Differ on every answer, whoever gives it.
_PER_REQUEST = {"x-request-id", "content-length"}


@dataclass
class App:
    client: httpx.AsyncClient
    reached_litestar: list[str] = field(default_factory=list)


def _lane(handler: Any) -> FastLane:
    while not isinstance(handler, FastLane):
        handler = handler.app
    return handler


@pytest_asyncio.fixture
async def app(stack: EmbeddedStack, api_url: str) -> AsyncIterator[App]:
    del api_url  # the stack's API is up: the database is migrated
    litestar_app = create_app(Settings.from_env(stack.env()))
    lane = _lane(litestar_app.asgi_handler)
    seen = App(client=httpx.AsyncClient())
    inner = lane.inner

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.reached_litestar.append(f"{scope['method']} {scope['path']}")
        await inner(scope, receive, send)

    lane.inner = counted
    async with AsyncTestClient(litestar_app, base_url="http://127.0.0.1") as client:
        seen.client = client
        yield seen


def _headers(r: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k not in _PER_REQUEST}


def _same_answer(lane: httpx.Response, framework: httpx.Response, same_body: bool) -> None:
    assert lane.status_code == framework.status_code, (lane.text, framework.text)
    assert _headers(lane) == _headers(framework)
    if same_body:
        assert lane.json() == framework.json()
    else:
        assert set(lane.json()) == set(framework.json())


async def _customer(app: App) -> tuple[Customer, str]:
    ada = await sign_up(app.client)
    r = await app.client.post(
        "/api/v1/accounts", json={"currency": "EUR", "name": "Everyday"}, headers=ada.auth
    )
    assert r.status_code == 201, r.text
    return ada, r.json()["id"]


def _keyed(c: Customer, key: str | None = None) -> dict[str, str]:
    return {**c.auth, "Idempotency-Key": key or str(uuid.uuid4())}


async def _post_twice(
    app: App, path: str, body: dict[str, Any], who: Customer, keys: tuple[str, str] | None = None
) -> tuple[httpx.Response, httpx.Response]:
    """The same command through the lane, then through Litestar (``?via=framework``);
    each under its own Idempotency-Key (new ones unless ``keys`` names them)."""
    lane_key, framework_key = keys or (None, None)
    lane = await app.client.post(path, json=body, headers=_keyed(who, lane_key))
    framework = await app.client.post(
        path, json=body, headers=_keyed(who, framework_key), params=FRAMEWORK
    )
    return lane, framework


async def test_the_hottest_requests_skip_the_framework_and_are_answered_as_it_does(
    app: App,
) -> None:
    ada, account = await _customer(app)
    deposits = f"/api/v1/accounts/{account}/deposits"
    app.reached_litestar.clear()

    lane, framework = await _post_twice(app, deposits, {"amount": 500}, ada, ("k1", "k2"))
    assert lane.status_code == 201, lane.text
    _same_answer(lane, framework, same_body=False)
    assert lane.json()["version"] + 1 == framework.json()["version"]

    replay, replay_framework = await _post_twice(app, deposits, {"amount": 500}, ada, ("k1", "k1"))
    assert replay.headers["idempotent-replayed"] == "true"
    _same_answer(replay, replay_framework, same_body=True)
    assert replay.json() == lane.json()

    savings = await app.client.post(
        "/api/v1/accounts", json={"currency": "EUR", "name": "Savings"}, headers=ada.auth
    )
    transfer = {"from_account_id": account, "to_account_id": savings.json()["id"], "amount": 100}
    lane, framework = await _post_twice(app, "/api/v1/transfers", transfer, ada)
    assert lane.status_code == 201, lane.text
    _same_answer(lane, framework, same_body=False)

    balance = f"/api/v1/accounts/{account}/balance"
    # Opened, two deposits, two transfers out: version 5 (min_version asks for no less).
    for params in ({}, {"min_version": "5"}):
        lane = await app.client.get(balance, headers=ada.auth, params=params)
        framework = await app.client.get(balance, headers=ada.auth, params=params | FRAMEWORK)
        assert lane.status_code == 200, lane.text
        assert lane.json()["balance"]["amount"] == 800
        _same_answer(lane, framework, same_body=True)

    assert app.reached_litestar == [
        f"POST {deposits}",
        f"POST {deposits}",
        "POST /api/v1/accounts",
        "POST /api/v1/transfers",
        f"GET {balance}",
        f"GET {balance}",
    ], "only the ?via=framework requests reach Litestar"


async def test_an_error_after_the_command_ran_is_answered_as_litestar_answers_it(
    app: App,
) -> None:
    ada, account = await _customer(app)
    withdrawals = f"/api/v1/accounts/{account}/withdrawals"
    app.reached_litestar.clear()
    lane, framework = await _post_twice(app, withdrawals, {"amount": 1}, ada)
    assert lane.status_code == 422, lane.text
    assert lane.headers["content-type"] == "application/problem+json"
    _same_answer(lane, framework, same_body=True)
    _, elsewhere = await _customer(app)
    transfer = {"from_account_id": account, "to_account_id": elsewhere, "amount": 1}
    lane, framework = await _post_twice(app, "/api/v1/transfers", transfer, ada)
    assert lane.status_code == 422, lane.text
    _same_answer(lane, framework, same_body=True)
    assert [r for r in app.reached_litestar if "/auth/" not in r] == [
        f"POST {withdrawals}",
        "POST /api/v1/accounts",
        "POST /api/v1/transfers",
    ]


async def test_what_the_lane_does_not_take_reaches_litestar_unchanged(app: App) -> None:
    ada, account = await _customer(app)
    eve, _ = await _customer(app)
    deposits = f"/api/v1/accounts/{account}/deposits"
    balance = f"/api/v1/accounts/{account}/balance"
    # (method, path, request, status, answered by the lane). The lane answers what it
    # has started: a body the input guard refuses while it is read, and a command that
    # passed the checks made before it runs (eve may not deposit to ada's account: the
    # handler says so). Everything else reaches Litestar, both times.
    cases: list[tuple[str, str, dict[str, Any], int, bool]] = [
        ("GET", balance, {}, 401, False),  # no token
        ("GET", balance, {"headers": eve.auth}, 404, False),  # someone else's account
        ("GET", balance, {"headers": {"Authorization": "Bearer not-a-token"}}, 401, False),
        ("GET", balance, {"headers": {**ada.auth, "Origin": "https://example.com"}}, 200, False),
        ("GET", balance, {"headers": ada.auth, "params": {"min_version": "-1"}}, 400, False),
        ("GET", f"/api/v1/accounts/{uuid.uuid4()}/balance", {"headers": ada.auth}, 404, False),
        ("POST", deposits, {"headers": _keyed(ada), "content": b"\xff\xfe"}, 400, True),
        ("POST", deposits, {"headers": _keyed(ada), "content": b'{"amount": "5"}'}, 400, False),
        ("POST", deposits, {"headers": ada.auth, "json": {"amount": 5}}, 400, False),  # no key
        ("POST", deposits, {"headers": _keyed(eve), "json": {"amount": 5}}, 404, True),
        (
            "POST",
            deposits,
            {"headers": {"Idempotency-Key": "x"}, "json": {"amount": 5}},
            401,
            False,
        ),
    ]
    for method, path, kwargs, status, by_lane in cases:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        app.reached_litestar.clear()
        r = await app.client.request(method, path, headers=headers, **kwargs)
        framework = await app.client.request(
            method, path, headers=headers, params=kwargs.pop("params", {}) | FRAMEWORK, **kwargs
        )
        assert r.status_code == status, (method, path, r.status_code, r.text)
        assert app.reached_litestar == [f"{method} {path}"] * (1 if by_lane else 2), r.text
        _same_answer(r, framework, same_body=True)
    r = await app.client.get(balance, headers=ada.auth)
    assert r.status_code == 200 and r.json()["balance"]["amount"] == 0, "nothing was changed"
    assert json.loads(r.text)["version"] == 1
