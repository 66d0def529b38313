"""OWASP API8:2023 Security Misconfiguration.

TLS with the generated localhost certificate (and HSTS over it), security
headers on every answer (errors included), no caching of API responses, and
CORS only for the configured client origins.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx
import pytest

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.support.customers import sign_up

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


async def test_api8_misconfiguration_security_headers_on_every_answer(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada Headers")
    answers = [
        await http.get("/api/v1/accounts", headers=ada.auth),  # 200
        await http.get("/api/v1/accounts"),  # 401
        await http.get(
            f"/api/v1/accounts/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=ada.auth
        ),  # 404
        await http.post("/api/v1/auth/register", content=b"{"),  # 400
        await http.get("/api/v1/nowhere"),  # 404, no route
        await http.get("/health/live"),
    ]
    for r in answers:
        for name, value in EXPECTED.items():
            assert r.headers.get(name) == value, (r.request.url, r.status_code, name)
        assert "strict-transport-security" not in r.headers  # plain HTTP: no HSTS
        if r.request.url.path.startswith("/api/"):
            assert r.headers["cache-control"] == "no-store", r.request.url


async def test_api8_misconfiguration_cors_allows_only_the_client_origin(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    client_origin = f"http://127.0.0.1:{stack.ports.client}"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    }
    r = await http.options("/api/v1/transfers", headers={"Origin": client_origin, **preflight})
    assert r.status_code in (200, 204)
    assert r.headers["access-control-allow-origin"] == client_origin
    assert "access-control-allow-credentials" not in r.headers
    for evil in ("https://evil.example", "null", f"http://127.0.0.1:{stack.ports.client + 1}"):
        r = await http.options("/api/v1/transfers", headers={"Origin": evil, **preflight})
        assert r.headers.get("access-control-allow-origin") not in (evil, "*"), evil
        r = await http.get("/health/live", headers={"Origin": evil})
        assert r.headers.get("access-control-allow-origin") not in (evil, "*"), evil


async def test_api8_misconfiguration_cors_exposes_the_replay_and_retry_headers(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    # The web client reads both on a cross-origin answer: a replayed command
    # (Idempotent-Replayed) and when to try again (Retry-After).
    client_origin = f"http://127.0.0.1:{stack.ports.client}"
    r = await http.get("/health/live", headers={"Origin": client_origin})
    assert r.headers["access-control-allow-origin"] == client_origin
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"idempotent-replayed", "retry-after"} <= exposed, exposed


async def test_api8_misconfiguration_tls_serves_the_api_with_the_generated_certificate(
    api_factory: Callable[..., ManagedProcess],
    stack: EmbeddedStack,
) -> None:
    api = api_factory(tls=True)
    assert api.url.startswith("https://")
    cert = stack.data_dir / "tls" / "localhost.crt"
    trust = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(base_url=api.url, verify=trust, timeout=30) as https:
        ada = await sign_up(https, "Ada Encrypted")
        account = (await ada.open_account())["id"]
        r = await ada.deposit(account, 12_34)
        assert r.status_code == 201
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert r.headers["cache-control"] == "no-store"
    # Without trusting the certificate the connection is refused (it is not a public CA's),
    # and plain HTTP is not spoken on the TLS port.
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as strict:
        with pytest.raises(httpx.ConnectError):
            await strict.get("/health/live")
    async with httpx.AsyncClient(base_url=api.url.replace("https", "http"), timeout=10) as plain:
        with pytest.raises(httpx.HTTPError):
            r = await plain.get("/health/live")
            r.raise_for_status()
