"""``HeadAsGet`` on its own: what the app below it sees and what leaves it. Over HTTP
(tests/integration/test_head_requests.py) no client can see a body after a HEAD, since
the server and the client both drop it; here the messages themselves are checked."""

from __future__ import annotations

from typing import Any

from server.api.head_requests import HeadAsGet, with_head

START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]}


async def _through(method: str) -> tuple[str, list[dict[str, Any]]]:
    """The method the app below saw, and the messages sent out for its answer in two
    parts."""
    seen: list[str] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["method"])
        await send(START)
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def", "more_body": False})

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": method, "path": "/", "headers": []}
    await HeadAsGet(app)(scope, receive, send)  # type: ignore[arg-type]
    return seen[0], sent


async def test_a_head_runs_as_the_get_and_sends_its_start_without_the_body() -> None:
    method, sent = await _through("HEAD")
    assert method == "GET"
    assert sent == [START, {"type": "http.response.body", "body": b"", "more_body": False}]


async def test_every_other_request_passes_untouched() -> None:
    method, sent = await _through("GET")
    assert method == "GET"
    assert [m.get("body") for m in sent] == [None, b"abc", b"def"]


def test_allow_names_head_beside_get_only() -> None:
    assert with_head("OPTIONS, GET") == "OPTIONS, GET, HEAD"
    assert with_head("GET, HEAD, OPTIONS") == "GET, HEAD, OPTIONS"
    assert with_head("OPTIONS, POST") == "OPTIONS, POST"
