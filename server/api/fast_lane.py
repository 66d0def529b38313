"""The hottest requests answered without the framework's layers: GET balance, the
money movements on one account (deposits, withdrawals, cash deposits, top-ups) and
POST /api/v1/transfers.

Through Litestar a balance poll cost ~435 µs of the API's CPU and a deposit ~600 µs,
much of it in the framework's middleware, routing, dependency injection and response
objects rather than in our code (docs/adr/0306-a-fast-lane-for-the-hottest-requests.md).
This ASGI layer sits inside the request ids, metrics, access log and input guard, and
in front of Litestar, whose ``before_send`` hooks (security headers) wrap the ``send``
it answers through. It runs the very functions the controllers run
(``authenticate_access_token``, ``resolve_account``, ``get_balance``,
``read_movement``/``movement_result``, ``read_transfer``/``transfer_result``,
``take_money_token``), answers a command's result as ``accounts.command_response`` has
Litestar answer it, and takes only requests of the plain shape: a bearer token, no
``Origin`` (CORS stays with Litestar's middleware), no query string (GET balance:
``min_version=<digits>`` at most), and for a command a JSON body with a
Content-Length within the app's limit.

Until a command runs, anything unexpected - no token, a revoked session, a bad id, a
malformed body, a dependency that is down, any exception - hands the request to
Litestar untouched, which gives its usual answer: nothing was changed, and the body
read so far is kept in the scope for it. Once a command has passed those checks, its
rate-limit token, its run and its answer are this layer's: an error is answered by
the handler Litestar's exception middleware would pick (``errors.error_response``).
tests/integration/test_fast_lane.py compares every kind of answer with Litestar's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import msgspec
from litestar import Litestar
from litestar.utils.scope.state import ScopeState

from server.api.account_ids import resolve_account
from server.api.accounts import MOVEMENT_ROUTES, MovementRoute, movement_result, read_movement
from server.api.bootstrap import services_of
from server.api.errors import error_response
from server.api.headers import IDEMPOTENT_REPLAYED
from server.api.queries import BALANCE_PATH, min_version_param
from server.api.rate_limits import MONEY_MOVING, take_money_token
from server.api.security import authenticate_access_token
from server.api.transfers import (
    TRANSFER_OPERATION,
    TRANSFERS_PATH,
    read_transfer,
    transfer_result,
)
from server.application.command_runner import CommandResult
from server.application.context import Actor, AppContext
from server.queries import accounts as account_queries

_PREFIX = "/api/v1/accounts"
_ACCOUNT = re.escape(_PREFIX) + r"/([0-9A-Za-z-]{1,64})/"
_BALANCE = re.compile(_ACCOUNT + "balance")
_BY_SUFFIX = {r.suffix: r for r in MOVEMENT_ROUTES}
_MOVEMENT = re.compile(_ACCOUNT + "(" + "|".join(map(re.escape, _BY_SUFFIX)) + ")")
_MIN_VERSION = re.compile(rb"min_version=([0-9]{1,18})")
_BEARER = b"bearer "  # Litestar takes what follows the first space; so do we
_JSON = b"application/json"
_REPLAYED = (IDEMPOTENT_REPLAYED.lower().encode(), b"true")
_encode = msgspec.json.Encoder().encode


def _plain_headers(scope: Any) -> dict[bytes, bytes] | None:
    """The headers the lane reads, or None when the request is not of the plain shape:
    an Origin (CORS), or a header it reads given twice."""
    seen: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name == b"origin":
            return None
        if name in (b"authorization", b"content-type", b"content-length"):
            if name in seen:
                return None
            seen[name] = value
    auth = seen.get(b"authorization", b"")
    if auth[:7].lower() != _BEARER:
        return None
    return seen


class FastLane:
    """Wraps the app's ASGI handler; see the module doc."""

    def __init__(self, app: Litestar, inner: Any, max_body_bytes: int) -> None:
        self.app = app
        self.inner = inner
        self.max_body_bytes = max_body_bytes  # the app's request_max_body_size
        # The route templates Litestar reports for these paths (metrics, logs, spans).
        templates = {route.path: route.path_format for route in app.routes}
        self.balance_template = templates[_PREFIX + BALANCE_PATH]
        self.movement_templates = {r.suffix: templates[_PREFIX + r.path] for r in MOVEMENT_ROUTES}
        self.transfer_template = templates[TRANSFERS_PATH]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "GET" and (match := _BALANCE.fullmatch(path)):
                if await self._balance(scope, send, match.group(1)):
                    return
            elif method == "POST" and (command := self._command_of(path)) is not None:
                if await self._command(scope, receive, send, *command):
                    return
        await self.inner(scope, receive, send)

    def _command_of(self, path: str) -> tuple[str, str, Read, Run] | None:
        """The route template, operation id, reading and running of a command path."""
        if path == TRANSFERS_PATH:
            return self.transfer_template, TRANSFER_OPERATION, _read_transfer, transfer_result
        if (match := _MOVEMENT.fullmatch(path)) is None:
            return None
        account_id, route = match.group(1), _BY_SUFFIX[match.group(2)]
        read = partial(_read_movement, account_id=account_id, route=route)
        run = partial(_movement_result, route=route)
        return self.movement_templates[route.suffix], route.operation_id, read, run

    async def _signed_in(self, scope: Any, headers: dict[bytes, bytes]) -> Actor | None:
        """The caller, by the check every request gets (the token after the first space,
        as Litestar's JWT middleware takes it); None: Litestar answers."""
        token = headers[b"authorization"].partition(b" ")[2].decode("latin-1")
        actor = await authenticate_access_token(self.app, token)
        if actor is not None:
            scope["user"] = actor  # as Litestar's authentication sets it (logs: user.id)
        return actor

    async def _balance(self, scope: Any, send: Any, account_id: str) -> bool:
        min_version = None
        if query := scope["query_string"]:
            found = _MIN_VERSION.fullmatch(query)
            if found is None:
                return False
            min_version = int(found.group(1))
        headers = _plain_headers(scope)
        if headers is None:
            return False
        try:
            actor = await self._signed_in(scope, headers)
            if actor is None:
                return False
            services = services_of(self.app)
            account = await resolve_account(services.ctx, account_id)
            balance = await account_queries.get_balance(
                services.ctx,
                actor,
                account,
                cache=services.query_cache,
                min_version=min_version_param(min_version),
            )
        except Exception:  # noqa: BLE001 - Litestar answers it, with its usual problem
            return False
        body = _encode(balance)
        scope["path_template"] = self.balance_template
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", _JSON),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return True

    def _plain_json_command(self, scope: Any) -> dict[bytes, bytes] | None:
        """The headers of a command of the plain shape: a JSON body of announced length
        within the limit, no query string; else None."""
        headers = _plain_headers(scope)
        if headers is None or scope["query_string"]:
            return None
        if not headers.get(b"content-type", b"").startswith(_JSON):
            return None
        length = headers.get(b"content-length", b"")
        if not length.isdigit() or not 0 < int(length) <= self.max_body_bytes:
            return None
        return headers

    async def _command(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        template: str,
        operation_id: str,
        read: Read,
        run: Run,
    ) -> bool:
        headers = self._plain_json_command(scope)
        if headers is None:
            return False
        request = self.app.request_class(scope=scope, receive=receive, send=send)
        try:
            body = await _read_body(receive)
        except Exception as exc:  # noqa: BLE001 - the input guard refused the body
            await _answer(scope, receive, send, request, error_response(request, exc))
            return True
        if body is None:
            return True  # the client went away: there is no one to answer
        ScopeState.from_scope(scope).body = body  # Litestar's Request reads it from here
        try:
            actor = await self._signed_in(scope, headers)
            if actor is None:
                return False
            ctx = services_of(self.app).ctx
            command = await read(request, ctx, actor)
        except Exception:  # noqa: BLE001 - nothing ran: Litestar answers it
            return False
        scope["path_template"] = template
        try:
            if operation_id in MONEY_MOVING:  # as the ``actor`` dependency takes it
                await take_money_token(self.app, actor)
            result = await run(ctx, actor, command)
        except Exception as exc:  # noqa: BLE001 - answered as Litestar would answer it
            await _answer(scope, receive, send, request, error_response(request, exc))
            return True
        await _answer_result(send, result)
        return True


# How the lane reads a command's request (raises: Litestar answers) and runs it.
Read = Callable[[Any, AppContext, Actor], Awaitable[Any]]
Run = Callable[[AppContext, Actor, Any], Awaitable[CommandResult]]


async def _read_movement(
    request: Any, ctx: AppContext, actor: Actor, *, account_id: str, route: MovementRoute
) -> Any:
    return await read_movement(request, ctx, actor, account_id, route.command, route.action)


async def _movement_result(
    ctx: AppContext, actor: Actor, movement: Any, *, route: MovementRoute
) -> CommandResult:
    return await movement_result(ctx, actor, movement, route.handler)


async def _read_transfer(request: Any, ctx: AppContext, actor: Actor) -> Any:
    del ctx  # a transfer names its accounts in the body
    return await read_transfer(request, actor)


async def _answer(scope: Any, receive: Any, send: Any, request: Any, response: Any) -> None:
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)


async def _answer_result(send: Any, result: CommandResult) -> None:
    """A command's answer as ``accounts.command_response`` has Litestar give it (its
    stored JSON, Idempotent-Replayed on a replay), without building Litestar's
    response objects: 8.3 -> 0.5 µs of CPU an answer (docs/adr/0348)."""
    body = result.body
    headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
    if result.replayed:
        headers.append(_REPLAYED)
    await send({"type": "http.response.start", "status": result.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes | None:
    """The request body (its length was announced and is within the limit), or None
    when the client disconnected."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
