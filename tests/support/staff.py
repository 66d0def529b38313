"""Staff as the tests see them: the bootstrap admin, and customers promoted to a role."""

from __future__ import annotations

from typing import Any

import httpx

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.application.admin import dev_admin_credentials
from tests.support.customers import Customer, sign_in, sign_up


def admin_credentials(stack: EmbeddedStack) -> tuple[str, str]:
    creds = dev_admin_credentials(Settings.from_env(stack.env()))
    assert creds is not None
    return creds


async def admin(http: httpx.AsyncClient, stack: EmbeddedStack) -> Customer:
    email, password = admin_credentials(stack)
    r = await sign_in(http, email, password)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    me = await http.get(
        "/api/v1/admin/users", params={"email": email}, headers={"Authorization": f"Bearer {token}"}
    )
    assert me.status_code == 200, me.text
    return Customer(http=http, email=email, user_id=me.json()["id"], token=token)


async def set_role(
    http: httpx.AsyncClient, by: Customer, user_id: str, role: str
) -> httpx.Response:
    return await http.put(
        f"/api/v1/admin/users/{user_id}/role", json={"role": role}, headers=by.auth
    )


async def staff(http: httpx.AsyncClient, stack: EmbeddedStack, role: str, name: str) -> Customer:
    """A new user given ``role`` by the admin, signed in again (the role change ended
    their earlier sessions)."""
    person = await sign_up(http, name)
    boss = await admin(http, stack)
    r = await set_role(http, boss, person.user_id, role)
    assert r.status_code == 200 and r.json()["role"] == role, r.text
    t = await sign_in(http, person.email)
    assert t.status_code == 200, t.text
    person.token = t.json()["access_token"]
    return person


async def audit_rows(
    http: httpx.AsyncClient, auditor: Customer, **params: Any
) -> list[dict[str, Any]]:
    r = await http.get(
        "/api/v1/audit",
        params={k: v for k, v in params.items() if v is not None},
        headers=auditor.auth,
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]
