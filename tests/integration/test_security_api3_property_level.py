"""OWASP API3:2023 Broken Object Property Level Authorization.

No body can set a property the caller may not set (status, balance, owner, role,
ids): unknown fields are refused, so there is no mass assignment. Responses
expose no secret properties (password hashes, refresh-token hashes).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from infra.local.stack import EmbeddedStack
from tests.support.customers import sign_up
from tests.support.staff import admin, set_role

SMUGGLED = [
    ("status", "frozen"),
    ("balance", {"amount": 10**9, "currency": "EUR"}),
    ("owner_id", "00000000-0000-4000-8000-000000000001"),
    ("version", 99),
    ("id", "00000000-0000-4000-8000-000000000002"),
    ("role", "admin"),
]


@pytest.mark.parametrize(("field", "value"), SMUGGLED, ids=[f for f, _ in SMUGGLED])
async def test_api3_property_level_no_body_sets_protected_properties(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
    field: str,
    value: Any,
) -> None:
    ada = await sign_up(http, "Ada Assigner")
    account = (await ada.open_account())["id"]
    events_before = await db.fetchval("SELECT count(*) FROM events")
    owned_before = await db.fetchval(
        "SELECT count(*) FROM account_owners WHERE owner_id = $1", uuid.UUID(ada.user_id)
    )
    key = {"Idempotency-Key": str(uuid.uuid4())}
    attempts = [
        ("/api/v1/accounts", {"currency": "EUR", "name": "Mine", field: value}),
        (f"/api/v1/accounts/{account}/deposits", {"amount": 100, field: value}),
        (f"/api/v1/accounts/{account}/withdrawals", {"amount": 100, field: value}),
        (
            "/api/v1/transfers",
            {"from_account_id": account, "to_account_id": account, "amount": 100, field: value},
        ),
        (f"/api/v1/accounts/{account}/close", {"reason": "bye", field: value}),
    ]
    for path, body in attempts:
        r = await http.post(
            path,
            content=json.dumps(body),
            headers={**ada.auth, **key, "Content-Type": "application/json"},
        )
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert field in r.json()["detail"], r.text  # says which field is not allowed
    r = await http.post(
        "/api/v1/auth/register",
        json={
            "email": f"mass.{uuid.uuid4().hex[:8]}@example.com",
            "password": "a long enough passphrase",
            "full_name": "Mass Assignment",
            field: value,
        },
    )
    assert r.status_code == 400, r.text

    assert await db.fetchval("SELECT count(*) FROM events") == events_before
    assert (
        await db.fetchval(
            "SELECT count(*) FROM account_owners WHERE owner_id = $1", uuid.UUID(ada.user_id)
        )
        == owned_before
    )
    got = (await ada.account(account)).json()
    assert (got["status"], got["balance"]["amount"], got["owner_id"]) == ("active", 0, ada.user_id)


async def test_api3_property_level_role_changes_accept_only_a_role(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
) -> None:
    boss = await admin(http, stack)
    ada = await sign_up(http, "Ada Promoted")
    for body in [
        {"role": "root"},
        {"role": "teller", "email": "boss@bank.local"},
        {"role": "teller", "password_hash": "x"},
        {},
        {"role": None},
    ]:
        r = await http.put(f"/api/v1/admin/users/{ada.user_id}/role", json=body, headers=boss.auth)
        assert r.status_code == 400, (body, r.text)
    assert (
        await db.fetchval("SELECT role FROM users WHERE id = $1", uuid.UUID(ada.user_id))
        == "customer"
    )
    r = await set_role(http, boss, ada.user_id, "teller")
    assert r.status_code == 200
    assert set(r.json()) == {"id", "email", "full_name", "role"}  # no password hash


async def test_api3_property_level_responses_expose_no_secrets(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada = await sign_up(http, "Ada Private")
    boss = await admin(http, stack)
    r = await http.get("/api/v1/admin/users", params={"email": ada.email}, headers=boss.auth)
    assert set(r.json()) == {"id", "email", "full_name", "role"}
    r = await http.get("/api/v1/auth/sessions", headers=ada.auth)
    for session in r.json()["items"]:
        assert set(session) == {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}
    assert "argon2" not in r.text and "refresh" not in r.text
