"""Security headers on every HTTP response, errors included (a before_send hook).

- X-Content-Type-Options: nosniff; Referrer-Policy: no-referrer
- X-Frame-Options: DENY and CSP frame-ancestors 'none' (no clickjacking)
- Cache-Control: no-store on /api/ responses (balances must not sit in caches)
- Strict-Transport-Security when the request came over TLS (directly, or through a
  trusted proxy whose X-Forwarded-Proto uvicorn applied to the scope)
"""

from __future__ import annotations

from litestar.types import Message, Scope

# On the answer to a command whose Idempotency-Key was answered before: the stored
# answer, replayed (Litestar's command_response, the fast lane, CORS exposes it).
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"

_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-site"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_NO_STORE = (b"cache-control", b"no-store")


async def security_headers(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or scope["type"] != "http":
        return
    headers = [(k, v) for k, v in message.get("headers") or []]
    present = {k.lower() for k, _ in headers}
    headers += [h for h in _ALWAYS if h[0] not in present]
    if scope.get("scheme") == "https" and _HSTS[0] not in present:
        headers.append(_HSTS)
    if scope.get("path", "").startswith("/api/"):
        headers = [h for h in headers if h[0].lower() != b"cache-control"] + [_NO_STORE]
    message["headers"] = headers
