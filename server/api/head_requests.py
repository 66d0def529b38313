"""HEAD is answered on every path that answers GET: the GET's status and headers,
without its body (RFC 9110 §9.3.2: a general-purpose server supports GET and HEAD).

Litestar routes HEAD only to handlers declared with ``@head``, and its
authentication middleware lets HEAD through unauthenticated, so a monitor that
checked ``HEAD /health/live``, or a client asking whether an account exists without
reading it, got 405. ``HeadAsGet`` runs a HEAD request as the GET (authentication,
access checks, rate limits, the fast lane) and sends its status and headers with
an empty body; Content-Length stays the GET's, as RFC 9110 allows. A path without
GET still answers 405, and the Allow headers (OPTIONS, 405) name HEAD beside GET
(``with_head``). The OpenAPI document describes the GETs; HEAD is implied.
"""

from __future__ import annotations

from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

_EMPTY_BODY: dict[str, Any] = {"type": "http.response.body", "body": b"", "more_body": False}


def with_head(allow: str) -> str:
    """An Allow header's value, with HEAD beside GET."""
    methods = [m.strip() for m in allow.split(",")]
    if "GET" in methods and "HEAD" not in methods:
        methods.insert(methods.index("GET") + 1, "HEAD")
    return ", ".join(methods)


class HeadAsGet:
    """ASGI: a HEAD request runs as a GET, and only the response's start is sent."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # none of the body is sent; the last part ends the response
                message = _EMPTY_BODY  # type: ignore[assignment]
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)  # type: ignore[arg-type]
