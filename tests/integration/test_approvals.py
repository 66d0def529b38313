"""Maker-checker against the real stack: an API started with
BANK_APPROVAL_REQUIRED=unfreeze_account,change_role answers 202 with a request id, and
only a different staff member's approval applies the change, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.support.customers import Customer, sign_up
from tests.support.staff import admin, staff

FOUR_EYES = {"BANK_APPROVAL_REQUIRED": "unfreeze_account,change_role"}


async def account_status(db: asyncpg.Pool, account_id: str) -> str:
    row = await db.fetchrow(
        "SELECT event_type FROM events WHERE stream_id = $1::uuid ORDER BY version DESC LIMIT 1",
        account_id,
    )
    return str(row["event_type"])


async def two_admins_and_a_frozen_account(
    http: httpx.AsyncClient, stack: EmbeddedStack
) -> tuple[Customer, Customer, str]:
    maker = await admin(http, stack)
    checker = await staff(http, stack, "admin", "Carla Checker")
    owner = await sign_up(http, "Olga Owner")
    account = (await owner.open_account())["id"]
    r = await http.post(f"/api/v1/accounts/{account}/freeze", headers=maker.auth)
    assert r.status_code == 200, r.text
    return maker, checker, account


async def test_an_unfreeze_waits_for_a_second_admin_and_runs_once(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    api_factory: Callable[..., ManagedProcess],
) -> None:
    maker, checker, account = await two_admins_and_a_frozen_account(http, stack)
    api = api_factory(extra_env=FOUR_EYES)
    async with httpx.AsyncClient(base_url=str(api.url), timeout=30) as h:
        r = await h.post(f"/api/v1/accounts/{account}/unfreeze", headers=maker.auth)
        assert r.status_code == 202, r.text
        approval_id = r.json()["approval_id"]
        assert await account_status(db, account) == "AccountFrozen"

        # The maker cannot approve their own request.
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=maker.auth)
        assert r.status_code == 403, r.text
        assert await account_status(db, account) == "AccountFrozen"
        # A customer cannot see or decide requests.
        owner = await sign_up(h, "Nosy Customer")
        assert (await h.get("/api/v1/approvals", headers=owner.auth)).status_code == 403

        pending = (await h.get("/api/v1/approvals?status=pending", headers=checker.auth)).json()
        assert approval_id in [a["id"] for a in pending["items"]]

        # Two approvals at once by the checker: one applies, the other finds it decided.
        results = await asyncio.gather(
            *(
                h.post(f"/api/v1/approvals/{approval_id}/approve", headers=checker.auth)
                for _ in range(2)
            )
        )
        codes = sorted(x.status_code for x in results)
        assert codes == [200, 422], [x.text for x in results]
        done = next(x.json() for x in results if x.status_code == 200)
        assert done["status"] == "approved" and done["checker_id"] == checker.user_id
        assert done["result_status"] == 200
    assert await account_status(db, account) == "AccountUnfrozen"
    unfrozen = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1::uuid AND event_type = 'AccountUnfrozen'",
        account,
    )
    assert unfrozen == 1
    trail = await db.fetch(
        "SELECT action, outcome, actor_id::text AS actor FROM audit_log"
        " WHERE target_id IN ($1, $2) ORDER BY id",
        account,
        approval_id,
    )
    got: list[tuple[Any, ...]] = [(t["action"], t["outcome"], t["actor"]) for t in trail]
    assert ("approval_requested", "accepted", maker.user_id) in got
    assert ("approval_approved", "denied", maker.user_id) in got
    assert ("unfreeze_account", "accepted", checker.user_id) in got
    assert ("approval_approved", "accepted", checker.user_id) in got


async def test_a_rejected_role_change_changes_nothing_and_is_kept(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    api_factory: Callable[..., ManagedProcess],
) -> None:
    maker = await admin(http, stack)
    checker = await staff(http, stack, "admin", "Rita Rejecter")
    person = await sign_up(http, "Tom Teller")
    api = api_factory(extra_env=FOUR_EYES)
    async with httpx.AsyncClient(base_url=str(api.url), timeout=30) as h:
        r = await h.put(
            f"/api/v1/admin/users/{person.user_id}/role",
            json={"role": "teller"},
            headers=maker.auth,
        )
        assert r.status_code == 202, r.text
        approval_id = r.json()["approval_id"]
        r = await h.post(
            f"/api/v1/approvals/{approval_id}/reject",
            json={"reason": "not on the roster"},
            headers=checker.auth,
        )
        assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=checker.auth)
        assert r.status_code == 422 and r.json()["code"] == "approval_not_pending", r.text
        kept = (await h.get("/api/v1/approvals?status=rejected", headers=checker.auth)).json()
        assert approval_id in [a["id"] for a in kept["items"]]
        # A second request, approved by the other admin, applies the role once.
        r = await h.put(
            f"/api/v1/admin/users/{person.user_id}/role",
            json={"role": "teller"},
            headers=maker.auth,
        )
        second = r.json()["approval_id"]
        r = await h.post(f"/api/v1/approvals/{second}/approve", headers=checker.auth)
        assert r.status_code == 200, r.text
    assert await db.fetchval("SELECT role FROM users WHERE id = $1::uuid", person.user_id) == (
        "teller"
    )
    rows = await db.fetch(
        "SELECT action, outcome FROM audit_log WHERE action = 'change_role'"
        " AND target_id = $1 ORDER BY id",
        person.user_id,
    )
    assert [(r["action"], r["outcome"]) for r in rows] == [("change_role", "accepted")]
