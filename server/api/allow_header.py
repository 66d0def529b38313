"""The ``Allow`` header of the automatic OPTIONS answer names every method of a path.

Litestar 2 builds that answer when a path's *first* handler is registered and keeps
it when further handlers join the path (litestar-org/litestar#4169, fixed in v3): with
GET and POST on one path, ``OPTIONS`` answered ``Allow: GET, OPTIONS``. This plugin
rebinds each automatic OPTIONS handler to the route it finally serves, so the header
lists the route's methods, and HEAD wherever GET is (server/api/head_requests.py answers
it). An OPTIONS handler a controller writes itself is left alone.
"""

from __future__ import annotations

from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute

_AUTOMATIC = "HTTPRoute.create_options_handler.<locals>.options_handler"


class AllowHeaderPlugin(ReceiveRoutePlugin):
    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        if "GET" in route.methods:
            route.methods.add("HEAD")
        entry = route.route_handler_map.get("OPTIONS")
        if entry is None or getattr(entry[0].fn, "__qualname__", "") != _AUTOMATIC:
            return
        # Same signature (scope only) and flags, so the handler's kwargs model holds.
        entry[0]._fn = route.create_options_handler(route.path).fn  # noqa: SLF001
