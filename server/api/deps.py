"""Dependency providers, in one place: the process's services and the signed-in actor.

Controllers take ``services: Services`` (server/api/bootstrap.py) and ``actor: Actor``.
``ctx`` (the application's context) stays as a name of its own: the command
controllers and the read side take it today.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException

from server.api.bootstrap import Services, services_from_state
from server.application.context import Actor, AppContext
from server.readmodel.cache import QueryCache


def provide_services(state: State) -> Services:
    return services_from_state(state)


def provide_ctx(state: State) -> AppContext:
    return services_from_state(state).ctx


def provide_query_cache(state: State) -> QueryCache:
    return services_from_state(state).query_cache


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    user = request.scope.get("user")
    if not isinstance(user, Actor):
        raise NotAuthorizedException("Sign in first: send `Authorization: Bearer <token>`.")
    return user


dependencies = {
    "services": Provide(provide_services, sync_to_thread=False),
    "ctx": Provide(provide_ctx, sync_to_thread=False),
    "query_cache": Provide(provide_query_cache, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
}
