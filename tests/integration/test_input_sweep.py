"""No input a client can send gets a 5xx (OWASP API8, issue #14 item 3).

Every operation of the API's own OpenAPI document is called with the family of
values that used to reach PostgreSQL as 500s - NUL, lone surrogates (as a JSON
escape, and percent-encoded in the URL as the UTF-8 bytes a surrogate would
have), over-long strings, deeply nested JSON, bytes that are not UTF-8 - in
every path parameter, query parameter and string field of the body. NUL and
lone surrogates must be a 400 that says what is wrong; nothing may be a 5xx.
Then the values at the edges of what PostgreSQL and Python hold, which were 500s
too: integers past 64 bits in every query parameter and integer field of the body,
and dates and date-times at (or, in another zone, past) the ends of the calendar.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from infra.local.stack import EmbeddedStack
from tests.support.customers import Customer, sign_up
from tests.support.staff import admin

# Raw JSON string literals (already escaped) and URL-encoded forms of each bad value.
NUL_JSON, NUL_URL = '"a\\u0000b"', "a%00b"
SURROGATE_JSON, SURROGATE_URL = '"\\ud800"', "%ED%A0%80"
LONG = "x" * 20_000
DEEP = "[" * 5_000 + "]" * 5_000
# Values at the edges: (label, in a URL, as a JSON literal or None for no body variant).
EDGES = (
    ("int 2^63", str(2**63), str(2**63)),
    ("int 2^64", str(2**64), str(2**64)),
    ("int below -2^63", str(-(2**63) - 1), str(-(2**63) - 1)),
    ("int 10^30", str(10**30), str(10**30)),
    ("last date", "9999-12-31", None),
    ("first date", "0001-01-01", None),
    ("past the last date-time", "9999-12-31T23:59:59-05:00", None),
    ("before the first date-time", "0001-01-01T00:00:00%2B05:00", None),
)
# Operations that end the caller's own session would cut the sweep short.
SKIP = {"logout"}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("oneOf", "anyOf"):
        if key in schema and "properties" not in schema:  # not an object's extra rule
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _resolve(doc, options[0]) if options else schema
    return schema


def _body(
    doc: dict[str, Any], schema: dict[str, Any], bad: str, depth: int = 0, integer: str = "1"
) -> str:
    """A JSON text of the schema's shape with ``bad`` (a JSON literal) in every string
    and ``integer`` in every integer."""
    schema = _resolve(doc, schema)
    kind = schema.get("type")
    if depth > 4:
        return "null"
    if kind == "object" or "properties" in schema:
        fields = [
            f"{json.dumps(name)}: {_body(doc, prop, bad, depth + 1, integer)}"
            for name, prop in schema.get("properties", {}).items()
        ]
        return "{" + ", ".join(fields) + "}"
    if kind == "array":
        return "[" + _body(doc, schema.get("items", {}), bad, depth + 1, integer) + "]"
    if kind == "integer":
        return integer
    if kind == "boolean":
        return "false"
    return bad


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                if op.get("operationId") not in SKIP:
                    yield method.upper(), path, op


def _path(template: str, op: dict[str, Any], value: str) -> str:
    for p in op.get("parameters", []):
        if p["in"] == "path":
            template = template.replace("{" + p["name"] + "}", value)
    return template


def _in_the_url(
    template: str, op: dict[str, Any], good_path: str
) -> Iterator[tuple[str, str, dict[str, str], bytes | None, bool]]:
    queries = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
    for label, value, strict in (
        ("nul", NUL_URL, True),
        ("surrogate", SURROGATE_URL, True),
        ("long", LONG, False),
    ):
        if "{" in template:
            yield f"path {label}", _path(template, op, value), {}, None, strict
        for name in queries:
            yield f"query {name} {label}", f"{good_path}?{name}={value}", {}, None, strict
    for name in queries:
        for label, value, _ in EDGES:
            yield f"query {name} {label}", f"{good_path}?{name}={value}", {}, None, False


def _requests(
    doc: dict[str, Any], method: str, template: str, op: dict[str, Any], account: str
) -> Iterator[tuple[str, str, dict[str, str], bytes | None, bool]]:
    """(label, url, headers, body, must_be_400) for every bad value in every place."""
    good_path = _path(template, op, account)
    yield from _in_the_url(template, op, good_path)
    content = op.get("requestBody", {}).get("content", {})
    json_body = "application/json" in content
    if json_body:
        schema = content["application/json"]["schema"]
        for label, bad, strict in (
            ("nul", NUL_JSON, True),
            ("surrogate", SURROGATE_JSON, True),
            ("long", json.dumps(LONG), False),
            ("deep", DEEP, False),
        ):
            body = _body(doc, schema, bad).encode()
            strict = strict and bad.encode() in body  # a body with no string has no bad text
            yield f"json {label}", good_path, {"content-type": "application/json"}, body, strict
        for label, _, literal in EDGES:
            if literal is not None:
                body = _body(doc, schema, '"x"', integer=literal).encode()
                yield f"json {label}", good_path, {"content-type": "application/json"}, body, False
        yield (
            "json not utf-8",
            good_path,
            {"content-type": "application/json"},
            b'{"name": "\xed\xa0\x80", "email": "\xff"}',
            True,
        )
    if "application/x-www-form-urlencoded" in content:
        form = {"content-type": "application/x-www-form-urlencoded"}
        for label, value, strict in (
            ("nul", NUL_URL, True),
            ("surrogate", SURROGATE_URL, True),
            ("long", LONG, False),
        ):
            body = f"grant_type=password&username={value}&password={value}".encode()
            yield f"form {label}", good_path, form, body, strict


async def test_every_operation_answers_bad_characters_with_400_and_nothing_with_5xx(
    http: httpx.AsyncClient, stack: EmbeddedStack
) -> None:
    doc = (await http.get("/schema/openapi.json")).json()
    ada: Customer = await sign_up(http, "Ada Sweep")
    account = (await ada.open_account())["id"]
    boss = await admin(http, stack)
    failures: list[str] = []
    calls = 0
    for method, template, op in _operations(doc):
        who = boss if template.startswith(("/api/v1/admin", "/api/v1/audit")) else ada
        for label, url, headers, body, must_be_400 in _requests(doc, method, template, op, account):
            headers = {**who.auth, "Idempotency-Key": str(uuid.uuid4()), **headers}
            r = await http.request(method, url, headers=headers, content=body)
            calls += 1
            where = f"{method} {template} [{label}] -> {r.status_code} {r.text[:200]}"
            if r.status_code >= 500 or (must_be_400 and r.status_code != 400):
                failures.append(where)
            elif must_be_400 and not r.json().get("detail"):
                failures.append(where + " (no detail says what is wrong)")
            elif r.status_code >= 400 and not r.json().get("code"):
                failures.append(where + " (no code for a program to act on)")
    assert calls > 100
    assert not failures, "\n".join(failures)


async def test_the_nul_query_that_used_to_be_a_500_is_a_clear_400(
    http: httpx.AsyncClient, stack: EmbeddedStack
) -> None:
    boss = await admin(http, stack)
    r = await http.get("/api/v1/admin/users?email=%00", headers=boss.auth)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "NUL" in r.json()["detail"]
    # An emoji (a surrogate pair in a JSON escape) is still text anyone may send.
    r = await http.post(
        "/api/v1/accounts",
        content=b'{"currency": "EUR", "name": "Savings \\ud83d\\ude00"}',
        headers={**boss.auth, "content-type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Savings \U0001f600"


async def test_the_token_endpoint_says_it_takes_a_form_body(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada Json")
    r = await http.post(
        "/api/v1/auth/token",
        json={"grant_type": "password", "username": ada.email, "password": "whatever"},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "unsupported_media_type"
    assert "application/x-www-form-urlencoded" in body["detail"]
    assert "RFC 6749" in body["detail"]
