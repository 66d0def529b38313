"""``create_app(settings)``: the Litestar application of one API process.

Run: ``python -m server.api`` (uvicorn, ``create_app`` as a factory). The adapters
are built by the composition root (server/api/bootstrap.py) when the app starts;
nothing connects at import time or here.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.types import ControllerRouterHandler

from runtime.settings import Settings
from server.api.accounts import AccountController
from server.api.admin import AdminController, AuditController
from server.api.allow_header import AllowHeaderPlugin
from server.api.approvals import ApprovalController
from server.api.auth import AuthController
from server.api.batch import BatchTransferController
from server.api.bootstrap import redis_client, services_lifespan
from server.api.deps import dependencies
from server.api.errors import exception_handlers
from server.api.fast_lane import FastLane
from server.api.funding import FundingController
from server.api.hardening import cors_config
from server.api.head_requests import HeadAsGet
from server.api.headers import security_headers
from server.api.health import HealthController
from server.api.holds import HoldController
from server.api.input_guard import InputGuard
from server.api.live import channels_plugin, live_socket
from server.api.notifications import NotificationController
from server.api.openapi import openapi_config
from server.api.payees import PayeeController
from server.api.payments import TransferByNumberController
from server.api.profile import ProfileController
from server.api.queries import QueryController, RecentActivityController
from server.api.security import build_auth
from server.api.standing_orders import StandingOrderController
from server.api.statements import StatementController
from server.api.transfers import TransferController
from server.graphql.controller import graphql_controller
from server.observability.http import instrument_app, metrics_endpoint

MAX_BODY_BYTES = 64 * 1024

ROUTES: list[ControllerRouterHandler] = [
    HealthController,
    AuthController,
    AccountController,
    FundingController,
    HoldController,
    TransferByNumberController,
    PayeeController,
    TransferController,
    BatchTransferController,
    QueryController,
    RecentActivityController,
    AdminController,
    AuditController,
    NotificationController,
    ProfileController,
    live_socket,
    metrics_endpoint,
    StandingOrderController,
    ApprovalController,
    StatementController,
]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    jwt_auth = build_auth(settings)
    redis = redis_client(settings)  # connects on first use, inside the app's loop
    app = Litestar(
        route_handlers=[*ROUTES, graphql_controller(settings)],
        dependencies=dependencies,
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        on_app_init=[jwt_auth.on_app_init],
        lifespan=[services_lifespan(settings, redis, jwt_auth)],
        before_send=[security_headers],
        plugins=[channels_plugin(redis), AllowHeaderPlugin()],
        request_max_body_size=MAX_BODY_BYTES,
        cors_config=cors_config(settings),
        openapi_config=openapi_config(),
    )
    app.state.settings = settings  # read by instrument_app (log level, OTLP endpoint)
    app.asgi_handler = FastLane(app, app.asgi_handler, MAX_BODY_BYTES)  # the hottest requests
    app.asgi_handler = InputGuard(app.asgi_handler)  # NUL, lone surrogates, ... -> 400
    app.asgi_handler = HeadAsGet(app.asgi_handler)  # HEAD answered as GET without the body
    return instrument_app(app)  # metrics, trace/request ids, JSON logs, OTLP if configured
