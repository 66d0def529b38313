"""Bearer JWT authentication (Litestar's OAuth2 password bearer flow) with sessions.

Access tokens are short-lived HS256 JWTs (settings.access_token_ttl_seconds,
at most 15 min) carrying ``sub`` (user id), ``role`` and ``sid`` (the session).
Every authenticated request, HTTP or WebSocket, goes through ``retrieve_actor``
and ``token_revoked``: a token whose session was revoked (logout, session
revoked, refresh-token reuse, role change) stops working.

A token's signature and claims are verified once per process and the result is
kept until the token expires (``SessionToken.decode``); revocation does not
depend on that cache, it is the session check on every request
(docs/adr/0300-a-cheap-request.md). Without Redis the session check cannot be
made: the request fails closed with 503 (server/api/errors.py), never 500.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Self, cast
from uuid import UUID

import jwt
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import OAuth2PasswordBearerAuth, Token

from runtime.observability.context import current_trace_id
from runtime.settings import Settings
from server.adapters.audit import AuditRecord
from server.api.bootstrap import services_of
from server.application.context import Actor

TOKEN_URL = "/api/v1/auth/token"
PUBLIC_PATHS = [
    "^/health",
    "^/schema",
    "^/metrics",
    "^/api/v1/auth/register",
    "^/api/v1/auth/password-reset",
    f"^{TOKEN_URL}",
    "^/api/v1/ws",
]
MAX_ACCESS_TOKEN_TTL = 15 * 60
# Why a sent token was refused, for a client to act on (401; GraphQL's session_revoked too).
TOKEN_EXPIRED, SESSION_REVOKED = "token_expired", "session_revoked"
SESSION_ENDED_DETAIL = "This session was signed out; sign in again."
REQUIRED_CLAIMS = ["exp", "sub", "iat", "sid"]
_ROLES = {"customer", "teller", "admin", "auditor"}
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# Verified tokens kept per process; the oldest goes first when full.
MAX_VERIFIED_TOKENS = 20_000
_verified: dict[tuple[str, str, str], tuple[float, SessionToken]] = {}


class SessionToken(Token):
    """Litestar's Token, with its extras (``role``, ``sid``) as top-level claims.
    Decoding already moves unknown top-level claims into ``extras``."""

    def encode(self, secret: str, algorithm: str) -> str:
        payload = {
            k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "extras"
        }
        payload.update(self.extras)
        return jwt.encode(payload=payload, key=secret, algorithm=algorithm)

    @classmethod
    def decode(
        cls,
        encoded_token: str,
        secret: str,
        algorithm: str,
        audience: str | Sequence[str] | None = None,
        issuer: str | Sequence[str] | None = None,
        require_claims: Sequence[str] | None = None,
        verify_exp: bool = True,
        verify_nbf: bool = True,
        strict_audience: bool = False,
    ) -> Self:
        """Verify once, then answer from the cache until the token's ``exp``.

        The same encoded string carries the same signature, so it verifies the same
        way until it expires; only our own settings' checks (no audience, issuer or
        nbf options) are cached, anything else is verified every time."""
        cacheable = verify_exp and audience is None and issuer is None
        key = (encoded_token, secret, algorithm)
        if cacheable and (hit := _verified.get(key)) is not None:
            if hit[0] > time.time():
                return cast(Self, hit[1])  # SessionToken has no subclasses: Self is it
            del _verified[key]
        try:
            token = super().decode(
                encoded_token,
                secret,
                algorithm,
                audience=audience,
                issuer=issuer,
                require_claims=require_claims,
                verify_exp=verify_exp,
                verify_nbf=verify_nbf,
                strict_audience=strict_audience,
            )
        except NotAuthorizedException as exc:
            raise _refused(exc) from exc
        if cacheable:
            if len(_verified) >= MAX_VERIFIED_TOKENS:
                del _verified[next(iter(_verified))]
            _verified[key] = (token.exp.timestamp(), token)
        return token


def _refused(exc: NotAuthorizedException) -> NotAuthorizedException:
    """Litestar says "Invalid token" for every refusal; an expired one (its signature
    checked first) is worth saying, as the remedy differs: refresh, not sign in."""
    if isinstance(exc.__cause__, jwt.ExpiredSignatureError):
        return NotAuthorizedException(
            f"The access token has expired: renew it at {TOKEN_URL} with"
            " grant_type=refresh_token, or sign in again.",
            extra={"code": TOKEN_EXPIRED},
        )
    return NotAuthorizedException(
        f"The access token is not valid: sign in at {TOKEN_URL} and send the token it gives"
        " as `Authorization: Bearer <token>`."
    )


async def retrieve_actor(
    token: Token, connection: ASGIConnection[Any, Any, Any, Any] | None
) -> Actor | None:
    role = token.extras.get("role", "customer")
    sid = token.extras.get("sid")
    if role not in _ROLES or not isinstance(sid, str) or not sid:
        return None
    try:
        user_id = UUID(token.sub)
    except ValueError:
        return None
    return Actor(user_id=user_id, role=role, session_id=sid)


async def token_revoked(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """True when the token names no session; a 401 ``session_revoked`` when its session
    no longer exists (checked in Redis, cached ≤ 1 s): signed out, ended from another
    device, a refresh token reused, a role changed."""
    sid = token.extras.get("sid")
    if not isinstance(sid, str):
        return True
    if not await services_of(connection.app).sessions.is_active(sid):
        raise NotAuthorizedException(SESSION_ENDED_DETAIL, extra={"code": SESSION_REVOKED})
    return False


async def authenticate_access_token(app: Litestar, token: str | None) -> Actor | None:
    """The same check as for HTTP requests, for a token that arrives another way
    (the WebSocket's ?token= or Hello message); None when it is not valid now."""
    if not token:
        return None
    auth = services_of(app).auth
    try:
        decoded = auth.token_cls.decode(
            encoded_token=token,
            secret=auth.token_secret,
            algorithm=auth.algorithm,
            require_claims=REQUIRED_CLAIMS,
        )
    except NotAuthorizedException:
        return None
    actor = await retrieve_actor(decoded, None)
    if actor is None or actor.session_id is None:
        return None
    return actor if await services_of(app).sessions.is_active(actor.session_id) else None


def build_auth(settings: Settings) -> OAuth2PasswordBearerAuth[Actor, Token]:
    ttl = min(settings.access_token_ttl_seconds, MAX_ACCESS_TOKEN_TTL)
    return OAuth2PasswordBearerAuth[Actor, Token](
        token_secret=settings.signing_key(),
        token_url=TOKEN_URL,
        retrieve_user_handler=retrieve_actor,
        token_cls=SessionToken,
        revoked_token_handler=token_revoked,
        default_token_expiration=timedelta(seconds=ttl),
        exclude=PUBLIC_PATHS,
        require_claims=REQUIRED_CLAIMS,
        description="Sign in at /api/v1/auth/token (OAuth2 password grant) and send the"
        " access token as `Authorization: Bearer <token>`; renew it with"
        " grant_type=refresh_token.",
    )


def issue_access_token(app: Litestar, user_id: UUID, role: str, session_id: str) -> tuple[str, int]:
    """A signed access token for a session, and its lifetime in seconds."""
    services = services_of(app)
    ttl = min(services.settings.access_token_ttl_seconds, MAX_ACCESS_TOKEN_TTL)
    token = services.auth.create_token(
        identifier=str(user_id),
        token_expiration=timedelta(seconds=ttl),
        token_extras={"role": role, "sid": session_id},
        token_unique_jwt_id=uuid.uuid4().hex,
    )
    return token, ttl


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The peer address (uvicorn has already applied X-Forwarded-For from trusted proxies)."""
    client = connection.client
    return client.host if client else "unknown"


def trace_id_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    tp = connection.headers.get("traceparent")
    if tp and (m := _TRACEPARENT.match(tp)):
        return m.group(1)
    return current_trace_id() or uuid.uuid4().hex


def audit_record(
    connection: ASGIConnection[Any, Any, Any, Any],
    action: str,
    actor: Actor | None = None,
    trace_id: str | None = None,
) -> AuditRecord:
    """An audit record of this request (who, from where, which trace); the outcome is set later."""
    return AuditRecord(
        action=action,
        actor_id=actor.user_id if actor else None,
        actor_role=actor.role if actor else None,
        session_id=actor.session_id if actor else None,
        client_ip=client_ip(connection),
        user_agent=connection.headers.get("user-agent"),
        trace_id=trace_id or trace_id_of(connection),
    )
