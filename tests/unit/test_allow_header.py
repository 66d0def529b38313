"""The automatic OPTIONS answer names every method a path serves (Litestar 2 named only
the first handler's: litestar-org/litestar#4169), on the real application's routes."""

from __future__ import annotations

from litestar import Controller, Litestar, get, post
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from runtime.settings import Settings
from server.api.allow_header import AllowHeaderPlugin
from server.api.app import create_app


class _Things(Controller):
    path = "/things"

    @get("/")
    async def list_things(self) -> list[int]:
        return []

    @post("/")
    async def add_thing(self) -> int:
        return 1


def _allow(app: Litestar, path: str) -> str:
    with TestClient(app) as client:
        return client.options(path).headers["allow"]


def test_without_the_plugin_litestar_2_leaves_a_method_out() -> None:
    # Pins the library behaviour the plugin exists for: if this starts failing, Litestar
    # fixed it and the plugin can go. (Which method is kept depends on registration order.)
    assert _allow(Litestar([_Things]), "/things") in ("GET, OPTIONS", "OPTIONS, POST")


def test_with_the_plugin_allow_lists_get_and_post() -> None:
    assert _allow(Litestar([_Things], plugins=[AllowHeaderPlugin()]), "/things") == (
        "GET, HEAD, OPTIONS, POST"
    )


def test_every_route_of_the_api_answers_options_with_all_its_methods() -> None:
    app = create_app(Settings(jwt_secret="k" * 48))
    checked = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler = route.route_handler_map["OPTIONS"][0]
        if handler.fn.__name__ != "options_handler":
            continue
        allow = handler.fn({"type": "http"}).headers["Allow"]
        checked[route.path] = allow
        assert set(allow.split(", ")) == set(route.methods), route.path
    for path in (
        "/api/v1/accounts",
        "/api/v1/payees",
        "/api/v1/standing-orders",
        "/api/v1/accounts/{account_id:str}/holds",
    ):
        assert "GET" in checked[path] and "POST" in checked[path], checked.get(path)
