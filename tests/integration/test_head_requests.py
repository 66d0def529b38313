"""HEAD is answered wherever GET is, as the GET without its body, over the real API
(server/api/head_requests.py). It was 405 everywhere, and Litestar's authentication
let HEAD through unauthenticated."""

from __future__ import annotations

import httpx

from tests.support.customers import sign_up

_SAME_HEADERS = ("content-type", "content-length", "cache-control", "etag")


async def test_head_answers_what_get_answers_without_the_body(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada Head")
    account = (await ada.open_account())["id"]
    assert (await ada.deposit(account, 1_000)).status_code == 201
    for path in (
        "/health/live",
        "/api/v1/me",
        "/api/v1/accounts",
        f"/api/v1/accounts/{account}",
        f"/api/v1/accounts/{account}/balance",  # the fast lane's
        f"/api/v1/accounts/{account}/transactions?limit=5",
        "/api/v1/accounts/not-an-account",  # a 400 keeps its status and headers
    ):
        got = await http.get(path, headers=ada.auth)
        head = await http.head(path, headers=ada.auth)
        assert head.status_code == got.status_code, (path, head.status_code, got.text)
        assert head.content == b"", path  # httpx drops one anyway: see tests/unit
        for name in _SAME_HEADERS:
            assert head.headers.get(name) == got.headers.get(name), (path, name)


async def test_head_is_authenticated_and_refused_where_get_is_not_served(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada Head Refused")
    account = (await ada.open_account())["id"]
    unauthenticated = await http.head(f"/api/v1/accounts/{account}")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
    assert unauthenticated.content == b""
    # Only POST here: HEAD is no more allowed than GET, and Allow does not offer it.
    post_only = await http.head("/api/v1/transfers", headers=ada.auth)
    assert post_only.status_code == 405
    assert set(post_only.headers["allow"].split(", ")) == {"OPTIONS", "POST"}
    # Where GET is served, the Allow of a 405 and of OPTIONS names HEAD beside it.
    refused = await http.delete(f"/api/v1/accounts/{account}", headers=ada.auth)
    assert refused.status_code == 405
    assert "HEAD" in refused.headers["allow"].split(", "), refused.headers["allow"]
    assert "GET, HEAD" in refused.json()["detail"], refused.text
    options = await http.options(f"/api/v1/accounts/{account}")
    assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "PATCH"}
