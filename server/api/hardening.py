"""CORS: only the configured client origins may call the API from a browser.

(The security adapters - sessions, sign-in lockouts, the money rate limit - are
built by the composition root, server/api/bootstrap.py.)
"""

from __future__ import annotations

from litestar.config.cors import CORSConfig

from runtime.settings import Settings
from server.api.headers import IDEMPOTENT_REPLAYED
from shared.api import IDEMPOTENCY_KEY


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
            IDEMPOTENCY_KEY,
            "traceparent",
            "X-Request-Id",
        ],
        expose_headers=["Retry-After", IDEMPOTENT_REPLAYED],
        allow_credentials=False,
        max_age=600,
    )
