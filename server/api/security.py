"""Bearer JWT authentication (Litestar's OAuth2 password bearer flow)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.security.jwt import OAuth2PasswordBearerAuth, Token

from server.application.context import Actor
from server.settings import Settings

TOKEN_URL = "/api/v1/auth/token"
PUBLIC_PATHS = [
    "^/health",
    "^/schema",
    "^/metrics",
    "^/api/v1/auth/register",
    f"^{TOKEN_URL}",
    "^/api/v1/ws",
]
_ROLES = {"customer", "teller", "admin", "auditor"}


async def retrieve_actor(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Actor | None:
    role = token.extras.get("role", "customer")
    if role not in _ROLES:
        return None
    try:
        user_id = UUID(token.sub)
    except ValueError:
        return None
    return Actor(user_id=user_id, role=role, session_id=token.extras.get("sid"))


def build_auth(settings: Settings) -> OAuth2PasswordBearerAuth[Actor, Token]:
    return OAuth2PasswordBearerAuth[Actor, Token](
        token_secret=settings.signing_key(),
        token_url=TOKEN_URL,
        retrieve_user_handler=retrieve_actor,
        default_token_expiration=timedelta(seconds=settings.access_token_ttl_seconds),
        exclude=PUBLIC_PATHS,
        require_claims=["exp", "sub", "iat"],
        description="Sign in at /api/v1/auth/token (OAuth2 password grant) and send the"
        " access token as `Authorization: Bearer <token>`.",
    )
