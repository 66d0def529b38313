"""Wires the security adapters into the API process (one lifespan hook), and CORS.

``security_side`` runs after the main lifespan (it needs ``app.state.ctx``):
the Redis session store and SessionService (``app.state.sessions``), the
sign-in lockouts, the money-moving token bucket (``app.state.money_bucket``),
and the bootstrap admin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis
from litestar import Litestar
from litestar.config.cors import CORSConfig

from runtime.settings import Settings
from server.adapters.rate_limits import FailureLock, TokenBucket
from server.adapters.sessions import SessionStore
from server.application.admin import ensure_bootstrap_admin
from server.application.context import AppContext
from server.application.sessions import SessionService


@asynccontextmanager
async def security_side(app: Litestar) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    s = ctx.settings
    client = redis.Redis.from_url(s.redis_url)
    window, lockout = s.login_failure_window_seconds, s.login_lockout_seconds
    app.state.sessions = SessionService(
        ctx,
        SessionStore(client, s.refresh_token_ttl_seconds),
        account_lock=FailureLock(
            client, "login-account", s.login_max_failures_per_account, window, lockout
        ),
        ip_lock=FailureLock(client, "login-ip", s.login_max_failures_per_ip, window, lockout),
    )
    app.state.money_bucket = TokenBucket(
        client, "money", s.money_rate_per_second, s.money_rate_burst
    )
    await ensure_bootstrap_admin(ctx)
    try:
        yield
    finally:
        await client.aclose()


def cors_config(settings: Settings) -> CORSConfig:
    """Only the configured client origins; no credentials (tokens travel in headers)."""
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()] or [
        f"http://127.0.0.1:{settings.client_port}",
        f"http://localhost:{settings.client_port}",
    ]
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "traceparent",
            "X-Request-Id",
        ],
        expose_headers=["Retry-After", "Idempotent-Replayed"],
        allow_credentials=False,
        max_age=600,
    )
