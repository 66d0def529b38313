"""The API's composition root: ``create_app(settings)`` wires every adapter.

Run: ``uvicorn server.api.app:create_app --factory``. Nothing connects at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import redis.asyncio as redis
from litestar import Litestar

from runtime.settings import Settings
from server.adapters.account_repository import AccountRepository
from server.api.accounts import AccountController
from server.api.admin import AdminController, AuditController
from server.api.auth import AuthController
from server.api.batch import BatchTransferController
from server.api.deps import dependencies
from server.api.errors import exception_handlers
from server.api.hardening import cors_config, security_side
from server.api.headers import security_headers
from server.api.health import HealthController
from server.api.live import channels_plugin, live_socket
from server.api.notifications import NotificationController
from server.api.openapi import openapi_config
from server.api.profile import ProfileController
from server.api.queries import QueryController, read_side
from server.api.rate_limits import money_rate_limit
from server.api.security import build_auth
from server.api.transfers import TransferController
from server.application.context import AppContext
from server.observability.http import instrument_app, metrics_endpoint

MAX_BODY_BYTES = 64 * 1024

ROUTES: list[type] = [
    HealthController,
    AuthController,
    AccountController,
    TransferController,
    BatchTransferController,
    QueryController,
    AdminController,
    AuditController,
    NotificationController,
    ProfileController,
    live_socket,
    metrics_endpoint,
]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    jwt_auth = build_auth(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        client = redis.Redis.from_url(settings.redis_url)
        app.state.ctx = AppContext(settings=settings, pool=pool, accounts=AccountRepository())
        app.state.redis = client
        try:
            yield
        finally:
            await client.aclose()
            await pool.close()

    app = Litestar(
        route_handlers=ROUTES,
        dependencies=dependencies,
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        on_app_init=[jwt_auth.on_app_init],
        lifespan=[lifespan, read_side, security_side],
        before_send=[security_headers],
        guards=[money_rate_limit],
        plugins=[channels_plugin(settings)],
        request_max_body_size=MAX_BODY_BYTES,
        cors_config=cors_config(settings),
        openapi_config=openapi_config(),
    )
    app.state.jwt_auth = jwt_auth
    app.state.settings = settings
    return instrument_app(app)  # metrics, trace/request ids, JSON logs, OTLP if configured
