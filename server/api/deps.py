"""Dependency providers, in one place: the process's services and the signed-in actor.

Controllers take ``services: Services`` (server/api/bootstrap.py) and ``actor: Actor``.
``ctx`` (the application's context) stays as a name of its own: the command
controllers and the read side take it today.

The providers form a chain (services <- ctx <- query_cache <- actor): each takes the
one before it, so Litestar resolves a handler's dependencies one after another.
Dependencies that do not depend on each other are resolved concurrently, in an anyio
task group created for every request: for these plain attribute reads that cost
~155 µs of CPU per request against ~5 µs resolved in turn (docs/adr/0304-dependencies-
resolved-in-turn.md). tests/unit/test_api_dependencies.py checks that no route of the
app resolves two dependencies at once.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException

from server.api.bootstrap import Services, services_from_state
from server.api.rate_limits import money_rate_limit
from server.application.context import Actor, AppContext
from server.readmodel.cache import QueryCache


def provide_services(state: State) -> Services:
    return services_from_state(state)


def provide_ctx(services: Services) -> AppContext:
    return services.ctx


def provide_query_cache(services: Services, ctx: AppContext) -> QueryCache:
    del ctx  # taken to come after it (see the module doc)
    return services.query_cache


async def provide_actor(request: Request[Any, Any, Any], query_cache: QueryCache) -> Actor:
    """The signed-in actor; on a money-moving route, after one token of their money rate
    limit (429 otherwise), before the handler decides anything."""
    del query_cache  # taken to come after it (see the module doc)
    user = request.scope.get("user")
    if not isinstance(user, Actor):
        raise NotAuthorizedException("Sign in first: send `Authorization: Bearer <token>`.")
    await money_rate_limit(request, user)
    return user


dependencies = {
    "services": Provide(provide_services, sync_to_thread=False),
    "ctx": Provide(provide_ctx, sync_to_thread=False),
    "query_cache": Provide(provide_query_cache, sync_to_thread=False),
    "actor": Provide(provide_actor),
}
