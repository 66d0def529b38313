"""Dependency providers: the process-wide context and the signed-in actor."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException

from server.application.context import Actor, AppContext


def provide_ctx(state: State) -> AppContext:
    return state.ctx  # type: ignore[no-any-return]


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    user = request.scope.get("user")
    if not isinstance(user, Actor):
        raise NotAuthorizedException("Sign in first: send `Authorization: Bearer <token>`.")
    return user


dependencies = {
    "ctx": Provide(provide_ctx, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
}
