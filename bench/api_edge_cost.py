"""CPU per request of each layer at the API's edge, in process (no sockets, no I/O).

    python -m bench.api_edge_cost [--requests 20000]

A Litestar app with one authenticated GET handler (no I/O) is driven straight
through its ASGI callable, and the process's own CPU time (time.process_time)
is divided by the requests: first bare, then adding one layer of the real API
at a time (the observability wrapper with and without its access-log line and
tracing, the input guard, security headers, CORS, JWT auth with the session
check, with and without the verified-token cache). CPU time of this process
only, so other load on the machine changes it little; the load average is
printed beside it all the same. The session check is a SessionService whose
answer is in memory here (what its 1 s cache gives on most requests).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from litestar import Litestar, get, post
from litestar.config.cors import CORSConfig
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.observability import logging as obs_logging
from runtime.observability import tracing
from runtime.settings import Settings
from server.api import security
from server.api.bootstrap import Services
from server.api.deps import dependencies
from server.api.headers import security_headers
from server.api.input_guard import InputGuard
from server.application.context import Actor
from server.application.sessions import SessionService
from server.observability.http import ObservedASGI


class InMemorySessions(SessionService):
    """The session check answered from memory (its cache hit), for the benchmark only."""

    def __init__(self) -> None:
        pass

    async def is_active(self, session_id: str) -> bool:
        return True


@get("/api/v1/probe/{account_id:str}", sync_to_thread=False)
def probe(actor: Actor, account_id: str) -> dict[str, str]:
    return {"account_id": account_id, "user": str(actor.user_id)}


@get("/open/{account_id:str}", sync_to_thread=False, opt={"exclude_from_auth": True})
def open_probe(account_id: str) -> dict[str, str]:
    return {"account_id": account_id}


@post(
    "/open/{account_id:str}",
    sync_to_thread=False,
    status_code=200,
    opt={"exclude_from_auth": True},
)
def open_command(account_id: str) -> dict[str, str]:
    return {"account_id": account_id}


def _app(*, auth: bool, headers: bool, cors: bool) -> Litestar:
    settings = Settings(jwt_secret="x" * 48)
    jwt_auth = security.build_auth(settings)
    app = Litestar(
        route_handlers=[probe, open_probe, open_command],
        dependencies=dependencies,
        on_app_init=[jwt_auth.on_app_init] if auth else [],
        before_send=[security_headers] if headers else [],
        cors_config=CORSConfig(allow_origins=["http://127.0.0.1:8550"]) if cors else None,
    )
    app.state.services = Services(
        settings=settings,
        auth=jwt_auth,
        ctx=None,  # type: ignore[arg-type]  # not reached by these handlers
        redis=None,  # type: ignore[arg-type]
        sessions=InMemorySessions(),
        money_limit=None,  # type: ignore[arg-type]
        query_cache=None,  # type: ignore[arg-type]
    )
    return app


def _token(app: Litestar) -> str:
    services: Services = app.state.services
    return services.auth.create_token(
        identifier=str(uuid.uuid4()),
        token_extras={"role": "customer", "sid": uuid.uuid4().hex},
    )


def _scope(path: str, headers: list[tuple[bytes, bytes]], method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _drive(app: Any, scope: dict[str, Any], n: int, before: Callable[[], None]) -> float:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(200):  # warm-up
        await app(dict(scope), receive, send)
    statuses.clear()
    start = time.process_time()
    for _ in range(n):
        before()
        await app(dict(scope), receive, send)
    cpu = time.process_time() - start
    if set(statuses) != {200}:
        raise SystemExit(f"the probe answered {sorted(set(statuses))}, not 200")
    return cpu / n * 1e6


def _nothing() -> None:
    return None


def _forget_tokens() -> None:
    security._verified.clear()


async def _measure(n: int) -> list[tuple[str, float]]:
    account = str(uuid.uuid4())
    rows: list[tuple[str, float]] = []
    sink = io.StringIO()

    def quiet_logs(level: str) -> None:
        obs_logging.configure_logging("bench", level=level, stream=sink)
        sink.seek(0)
        sink.truncate()

    quiet_logs("INFO")
    bare = _app(auth=False, headers=False, cors=False)
    open_scope = _scope(f"/open/{account}", [])
    rows.append(("bare Litestar, one handler", await _drive(bare, open_scope, n, _nothing)))
    command_scope = _scope(f"/open/{account}", [], "POST")
    rows.append(("bare Litestar, a POST", await _drive(bare, command_scope, n, _nothing)))
    quiet_logs("WARNING")  # the access line is an info line: off
    rows.append(
        (
            "+ ObservedASGI (ids, metrics), no access log",
            await _drive(ObservedASGI(bare), open_scope, n, _nothing),
        )
    )
    quiet_logs("INFO")
    rows.append(
        (
            "+ ObservedASGI, a GET (no access-log line since this change)",
            await _drive(ObservedASGI(bare), open_scope, n, _nothing),
        )
    )
    rows.append(
        (
            "+ ObservedASGI, a POST with its access-log line",
            await _drive(ObservedASGI(bare), command_scope, n, _nothing),
        )
    )
    tracing.configure_tracing("bench", exporter=InMemorySpanExporter())
    rows.append(
        (
            "+ ObservedASGI, a POST with access log and tracing (in-memory exporter)",
            await _drive(ObservedASGI(bare), command_scope, n, _nothing),
        )
    )
    tracing.disable_tracing()
    rows.append(("+ InputGuard", await _drive(InputGuard(bare), open_scope, n, _nothing)))
    headers_only = _app(auth=False, headers=True, cors=False)
    rows.append(("+ security headers", await _drive(headers_only, open_scope, n, _nothing)))
    with_cors = _app(auth=False, headers=False, cors=True)
    rows.append(("+ CORS", await _drive(with_cors, open_scope, n, _nothing)))
    authed = _app(auth=True, headers=False, cors=False)
    token = _token(authed)
    auth_scope = _scope(
        f"/api/v1/probe/{account}", [(b"authorization", f"Bearer {token}".encode())]
    )
    rows.append(("+ JWT auth, token verified once", await _drive(authed, auth_scope, n, _nothing)))
    rows.append(
        (
            "+ JWT auth, token verified every request",
            await _drive(authed, auth_scope, n, _forget_tokens),
        )
    )
    full = ObservedASGI(InputGuard(_app(auth=True, headers=True, cors=True)))
    rows.append(
        ("the API's whole edge (all of the above)", await _drive(full, auth_scope, n, _nothing))
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    rows = asyncio.run(_measure(args.requests))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"CPU µs per request, {args.requests} requests each, load average {load}")
    for name, us in rows:
        print(f"{us:8.1f}  {name}")


if __name__ == "__main__":
    main()
