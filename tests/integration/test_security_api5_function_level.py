"""OWASP API5:2023 Broken Function Level Authorization.

Each role gets exactly its functions: a customer calling teller, admin or
auditor functions gets 403; a teller moves cash on customers' accounts but
cannot freeze; an auditor reads everything and moves nothing; an admin
freezes, unfreezes, closes and assigns roles. Every refusal is audited.
"""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from infra.local.stack import EmbeddedStack
from tests.support.customers import Customer, sign_in, sign_up
from tests.support.staff import admin, audit_rows, set_role, staff


async def _post(
    http: httpx.AsyncClient, who: Customer, path: str, **json: object
) -> httpx.Response:
    return await http.post(
        path, json=json or None, headers={**who.auth, "Idempotency-Key": str(uuid.uuid4())}
    )


async def test_api5_function_level_a_customer_cannot_call_staff_functions(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada, bob = await sign_up(http, "Ada Curious"), await sign_up(http, "Bob Other")
    account = (await ada.open_account())["id"]
    for action in ("freeze", "unfreeze"):  # not even on her own account
        r = await _post(http, ada, f"/api/v1/accounts/{account}/{action}")
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (action, r.text)
    r = await http.put(
        f"/api/v1/admin/users/{bob.user_id}/role", json={"role": "admin"}, headers=ada.auth
    )
    assert r.status_code == 403
    r = await http.put(
        f"/api/v1/admin/users/{ada.user_id}/role", json={"role": "admin"}, headers=ada.auth
    )
    assert r.status_code == 403
    assert (await http.get("/api/v1/audit", headers=ada.auth)).status_code == 403
    r = await http.get("/api/v1/admin/users", params={"email": bob.email}, headers=ada.auth)
    assert r.status_code == 403
    # The refusals are on the record.
    auditor = await staff(http, stack, "auditor", "Aud Function")
    denied = {
        (r["action"], r["reason_code"])
        for r in await audit_rows(http, auditor, actor=ada.user_id)
        if r["outcome"] == "denied"
    }
    assert {
        ("freeze_account", "forbidden"),
        ("unfreeze_account", "forbidden"),
        ("change_role", "forbidden"),
        ("read_audit_trail", "forbidden"),
    } <= denied


async def test_api5_function_level_a_customer_may_close_only_an_empty_own_account(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada Closing")
    empty, funded = (await ada.open_account())["id"], (await ada.open_account(name="Savings"))["id"]
    assert (await ada.deposit(funded, 5_00)).status_code == 201
    r = await _post(http, ada, f"/api/v1/accounts/{funded}/close")
    assert r.status_code == 422 and r.json()["code"] == "account_not_empty"
    r = await _post(http, ada, f"/api/v1/accounts/{empty}/close")
    assert r.status_code == 200 and r.json()["status"] == "closed"


async def test_api5_function_level_a_teller_runs_the_cash_desk_but_cannot_freeze(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada = await sign_up(http, "Ada Walk-in")
    account = (await ada.open_account())["id"]
    other = (await ada.open_account(name="Other"))["id"]
    teller = await staff(http, stack, "teller", "Tom Teller")

    assert (await teller.deposit(account, 300_00)).status_code == 201
    assert (await teller.withdraw(account, 100_00)).status_code == 201
    assert await teller.balance(account) == 200_00
    assert await ada.balance(account) == 200_00
    r = await teller.transfer(account, other, 50_00)  # only the owner moves money between accounts
    assert r.status_code == 403
    for action in ("freeze", "unfreeze", "close"):
        r = await _post(http, teller, f"/api/v1/accounts/{account}/{action}")
        assert r.status_code == 403, (action, r.text)
    assert (
        await http.put(
            f"/api/v1/admin/users/{ada.user_id}/role", json={"role": "teller"}, headers=teller.auth
        )
    ).status_code == 403
    assert (await http.get("/api/v1/audit", headers=teller.auth)).status_code == 403
    assert await ada.balance(account) == 200_00


async def test_api5_function_level_an_auditor_reads_everything_and_moves_nothing(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
) -> None:
    ada = await sign_up(http, "Ada Audited")
    account = (await ada.open_account())["id"]
    assert (await ada.deposit(account, 70_00)).status_code == 201
    auditor = await staff(http, stack, "auditor", "Aud Readonly")
    before = await db.fetchval("SELECT count(*) FROM events")

    assert await auditor.balance(account) == 70_00
    assert (
        await http.get(f"/api/v1/accounts/{account}/transactions", headers=auditor.auth)
    ).status_code == 200
    assert (await auditor.deposit(account, 1_00)).status_code == 403
    assert (await auditor.withdraw(account, 1_00)).status_code == 403
    assert (await auditor.transfer(account, account, 1_00)).status_code == 403
    r = await http.post(
        "/api/v1/accounts", json={"currency": "EUR", "name": "Mine"}, headers=auditor.auth
    )
    assert r.status_code == 403
    for action in ("freeze", "unfreeze", "close"):
        assert (
            await _post(http, auditor, f"/api/v1/accounts/{account}/{action}")
        ).status_code == 403
    assert (
        await http.put(
            f"/api/v1/admin/users/{ada.user_id}/role",
            json={"role": "auditor"},
            headers=auditor.auth,
        )
    ).status_code == 403
    assert await db.fetchval("SELECT count(*) FROM events") == before
    assert (
        await http.get("/api/v1/audit", params={"account": account}, headers=auditor.auth)
    ).status_code == 200


async def test_api5_function_level_an_admin_freezes_closes_and_assigns_roles(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada = await sign_up(http, "Ada Suspicious")
    account = (await ada.open_account())["id"]
    boss = await admin(http, stack)

    r = await _post(http, boss, f"/api/v1/accounts/{account}/freeze", reason="fraud check")
    assert r.status_code == 200 and r.json()["status"] == "frozen"
    r = await ada.withdraw(account, 1_00)  # frozen: no money can leave it
    assert r.status_code == 422 and r.json()["code"] == "account_frozen", r.text
    assert (await boss.deposit(account, 1_00)).status_code == 403  # admins do not move money
    r = await _post(http, boss, f"/api/v1/accounts/{account}/unfreeze")
    assert r.status_code == 200 and r.json()["status"] == "active"
    r = await _post(http, boss, f"/api/v1/accounts/{account}/close")
    assert r.status_code == 200 and r.json()["status"] == "closed"

    # Promoting ends the user's sessions: the old token (role customer) stops working.
    r = await set_role(http, boss, ada.user_id, "teller")
    assert r.status_code == 200 and r.json()["role"] == "teller"
    assert (await ada.account(account)).status_code == 401
    token = (await sign_in(http, ada.email)).json()["access_token"]
    r = await http.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403  # a teller is not an auditor
    # An admin cannot change their own role (the last admin cannot lock everyone out).
    r = await set_role(http, boss, boss.user_id, "customer")
    assert r.status_code == 403
    assert (await set_role(http, boss, str(uuid.uuid4()), "teller")).status_code == 404
