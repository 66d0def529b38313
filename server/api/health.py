"""GET /health/live (the process answers) and /health/ready (its dependencies do)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from litestar import Controller, Response, get

from server.api.bootstrap import Services


class Check(msgspec.Struct):
    ok: bool
    ms: float
    error: str | None = None


class Health(msgspec.Struct):
    status: str
    checks: dict[str, Check] = {}


async def _timed(coro: Any) -> Check:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(coro, timeout=2.0)
        return Check(ok=True, ms=round((time.perf_counter() - start) * 1000, 2))
    except Exception as exc:  # noqa: BLE001 - a failing dependency is the answer here
        return Check(
            ok=False, ms=round((time.perf_counter() - start) * 1000, 2), error=type(exc).__name__
        )


async def _kafka_reachable(bootstrap: str) -> None:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.close()
    await writer.wait_closed()


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    include_in_schema = True

    @get("/live", operation_id="live")
    async def live(self) -> Health:
        """Liveness, no token needed: 200 with ``status`` ok while the API process answers; no
        dependency is checked."""
        return Health(status="ok")

    @get("/ready", operation_id="ready")
    async def ready(self, services: Services) -> Response[Health]:
        """Readiness, no token needed: 200 when PostgreSQL, Redis and Kafka each answer within 2 s,
        else 503 with ``status`` unavailable; ``checks`` gives each one's outcome and
        milliseconds."""
        checks = dict(
            zip(
                ("postgres", "redis", "kafka"),
                await asyncio.gather(
                    _timed(services.ctx.pool.fetchval("SELECT 1")),
                    _timed(services.redis.ping()),
                    _timed(_kafka_reachable(services.settings.kafka_bootstrap)),
                ),
                strict=True,
            )
        )
        ok = all(c.ok for c in checks.values())
        return Response(
            Health(status="ok" if ok else "unavailable", checks=checks),
            status_code=200 if ok else 503,
        )
