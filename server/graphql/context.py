"""Who is asking over GraphQL: the same bearer tokens and sessions as REST.

Over HTTP the JWT middleware has already checked the ``Authorization`` header (as
for every REST path) and put the actor on the request. Over the WebSocket
(graphql-transport-ws), a browser cannot send headers: the token comes in the
``connection_init`` payload (``{"Authorization": "Bearer …"}`` or ``{"token": …}``)
and is checked the same way (signature, expiry, session still active).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.exceptions import NotAuthorizedException
from strawberry.litestar.controller import BaseContext

from server.api.bootstrap import Services, services_of
from server.api.security import authenticate_access_token
from server.application.context import Actor


class BankContext(BaseContext, kw_only=True):
    connection_params: dict[str, Any] | None = None
    actor: Actor | None = None

    @property
    def app(self) -> Litestar:
        connection = self.request if self.request is not None else self.websocket
        assert connection is not None
        return connection.app

    @property
    def services(self) -> Services:
        return services_of(self.app)


async def bank_context() -> BankContext:
    return BankContext()


def token_of(params: dict[str, Any] | None) -> str | None:
    if not isinstance(params, dict):
        return None
    header = params.get("Authorization") or params.get("authorization")
    if isinstance(header, str) and header.lower().startswith("bearer "):
        return header[7:].strip()
    token = params.get("token")
    return token if isinstance(token, str) else None


async def actor_of(context: BankContext) -> Actor:
    if context.actor is None:
        if context.request is not None:
            user = context.request.scope.get("user")
            context.actor = user if isinstance(user, Actor) else None
        elif context.websocket is not None:
            token = token_of(context.connection_params)
            context.actor = await authenticate_access_token(context.app, token)
    if context.actor is None:
        raise NotAuthorizedException("Sign in first: send `Authorization: Bearer <token>`.")
    return context.actor
