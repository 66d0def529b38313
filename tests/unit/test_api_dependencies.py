"""Litestar resolves independent dependencies concurrently, in an anyio task group made
for every request (~155 µs of CPU each time, ADR 0304); ours are plain attribute reads
chained so that every route resolves them one at a time."""

from __future__ import annotations

from litestar.routes import HTTPRoute

from runtime.settings import Settings
from server.api.app import create_app


def _batches() -> dict[str, list[list[str]]]:
    """Per ``METHOD path``: the dependency batches the running app resolves, in order."""
    app = create_app(Settings.from_env({}))
    out = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (_, model) in route.route_handler_map.items():
                batches = [sorted(d.key for d in batch) for batch in model.dependency_batches]
                out[f"{method} {route.path}"] = batches
    return out


def test_no_route_resolves_two_dependencies_at_once() -> None:
    batches = _batches()
    assert len(batches) > 50
    # /graphql: Strawberry's own dependencies (its context, root value), not ours.
    wide = {
        route: b
        for route, b in batches.items()
        if any(len(x) > 1 for x in b) and not route.endswith("/graphql")
    }
    assert not wide, wide


def test_a_command_route_resolves_its_chain_in_turn() -> None:
    deposit = _batches()["POST /api/v1/accounts/{account_id:str}/deposits"]
    assert deposit == [["services"], ["ctx"], ["query_cache"], ["actor"]]


def test_every_money_moving_route_takes_the_actor_and_so_its_rate_limit() -> None:
    """The money rate limit is taken in the ``actor`` dependency, not a guard (ADR 0305):
    a money-moving route that did not take the actor would not be limited."""
    from server.api.rate_limits import MONEY_MOVING

    app = create_app(Settings.from_env({}))
    assert not app.guards
    seen = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, model in route.route_handler_map.values():
                if handler.operation_id in MONEY_MOVING:
                    seen.add(handler.operation_id)
                    keys = {d.key for batch in model.dependency_batches for d in batch}
                    assert "actor" in keys, (handler.operation_id, keys)
    assert seen == MONEY_MOVING
