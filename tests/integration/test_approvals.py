"""Maker-checker against the real stack: an API started with
BANK_APPROVAL_REQUIRED=unfreeze_account,change_role answers 202 with a request id, and
only a different staff member's approval applies the change, exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from server.adapters.migrations import MIGRATIONS_DIR
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
        keyed = {**maker.auth, "Idempotency-Key": str(uuid.uuid4())}
        r = await h.post(f"/api/v1/accounts/{account}/unfreeze", headers=keyed)
        assert r.status_code == 202, r.text
        approval_id = r.json()["approval_id"]
        assert await account_status(db, account) == "AccountFrozen"
        # A retry under the key (its answer lost) is the same request, not a second one.
        again = await h.post(f"/api/v1/accounts/{account}/unfreeze", headers=keyed)
        assert again.status_code == 202 and again.json()["approval_id"] == approval_id
        kept = await db.fetchval(
            "SELECT count(*) FROM approval_requests WHERE action = 'unfreeze_account'"
            " AND account_id = $1::uuid",
            account,
        )
        assert kept == 1

        # The maker cannot approve their own request.
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=maker.auth)
        assert r.status_code == 403, r.text
        assert await account_status(db, account) == "AccountFrozen"
        # A customer cannot see or decide requests.
        owner = await sign_up(h, "Nosy Customer")
        assert (await h.get("/api/v1/approvals", headers=owner.auth)).status_code == 403

        pending = (await h.get("/api/v1/approvals?status=pending", headers=checker.auth)).json()
        assert approval_id in [a["id"] for a in pending["items"]]

        # Two approvals at once by the checker (a retry after a lost answer): the command
        # runs once and both answer the decision made.
        results = await asyncio.gather(
            *(
                h.post(f"/api/v1/approvals/{approval_id}/approve", headers=checker.auth)
                for _ in range(2)
            )
        )
        codes = sorted(x.status_code for x in results)
        assert codes == [200, 200], [x.text for x in results]
        assert results[0].json() == results[1].json()
        done = results[0].json()
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
        # A role for nobody is refused at once, not when someone approves it.
        r = await h.put(
            f"/api/v1/admin/users/{uuid.uuid4()}/role", json={"role": "teller"}, headers=maker.auth
        )
        assert (r.status_code, r.json()["code"]) == (404, "user_not_found"), r.text
        keyed = {**maker.auth, "Idempotency-Key": str(uuid.uuid4())}
        r = await h.put(
            f"/api/v1/admin/users/{person.user_id}/role", json={"role": "teller"}, headers=keyed
        )
        assert r.status_code == 202, r.text
        approval_id = r.json()["approval_id"]
        again = await h.put(
            f"/api/v1/admin/users/{person.user_id}/role", json={"role": "teller"}, headers=keyed
        )
        assert again.status_code == 202 and again.json()["approval_id"] == approval_id
        other = await h.put(
            f"/api/v1/admin/users/{person.user_id}/role", json={"role": "auditor"}, headers=keyed
        )
        assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
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


CASH_FOUR_EYES = {
    "BANK_APPROVAL_REQUIRED": "deposit_cash,set_account_limits",
    "BANK_CASH_DEPOSIT_APPROVAL_THRESHOLD": "500000",  # 5,000.00
}


async def deposits_of(db: asyncpg.Pool, account: str) -> list[int]:
    rows = await db.fetch(
        "SELECT (payload->>'amount')::bigint AS amount FROM events"
        " WHERE stream_id = $1::uuid AND event_type = 'MoneyDeposited' ORDER BY version",
        account,
    )
    return [r["amount"] for r in rows]


async def test_a_large_cash_deposit_is_credited_once_when_another_teller_approves(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    api_factory: Callable[..., ManagedProcess],
) -> None:
    maker = await staff(http, stack, "teller", "Mia Maker")
    checker = await staff(http, stack, "teller", "Cal Checker")
    boss = await admin(http, stack)
    owner = await sign_up(http, "Olly Owner")
    account = (await owner.open_account())["id"]
    api = api_factory(extra_env=CASH_FOUR_EYES)
    async with httpx.AsyncClient(base_url=str(api.url), timeout=30) as h:

        async def cash(amount: int, key: str, who: Customer = maker) -> httpx.Response:
            return await h.post(
                f"/api/v1/accounts/{account}/cash-deposits",
                json={"amount": amount, "description": "cash at the desk"},
                headers={**who.auth, "Idempotency-Key": key},
            )

        # At the threshold: one teller, at once.
        r = await cash(5_000_00, str(uuid.uuid4()))
        assert r.status_code == 201, r.text
        # Above it: 202 with the request; nothing credited yet. A retry is the same request.
        key = str(uuid.uuid4())
        r = await cash(7_500_00, key)
        assert r.status_code == 202, r.text
        approval_id = r.json()["approval_id"]
        assert r.json()["status"] == "pending" and r.json()["action"] == "deposit_cash"
        again = await cash(7_500_00, key)
        assert again.status_code == 202 and again.json()["approval_id"] == approval_id
        assert again.headers.get("Idempotent-Replayed") == "true"
        reused = await cash(7_600_00, key)  # the same key for another amount
        assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
        # The legacy /deposits path (staff: cash) is held the same way.
        r = await h.post(
            f"/api/v1/accounts/{account}/deposits",
            json={"amount": 6_000_00},
            headers={**maker.auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 202, r.text
        legacy = r.json()["approval_id"]
        assert await deposits_of(db, account) == [5_000_00]

        # The maker cannot approve their own; an admin does not take cash (the checker
        # runs the command and needs its rights): refused, the request stays pending.
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=maker.auth)
        assert r.status_code == 403 and "another staff member" in r.json()["detail"], r.text
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=boss.auth)
        assert r.status_code == 403, r.text
        assert await deposits_of(db, account) == [5_000_00]

        results = await asyncio.gather(
            *(
                h.post(f"/api/v1/approvals/{approval_id}/approve", headers=checker.auth)
                for _ in range(3)
            )
        )
        codes = sorted(x.status_code for x in results)
        assert codes == [200, 200, 200], [x.text for x in results]
        assert len({x.text for x in results}) == 1  # one decision, answered three times
        done = results[0].json()
        assert done["status"] == "approved" and done["result_status"] == 201
        assert done["payload"]["amount"] == 7_500_00

        r = await h.post(
            f"/api/v1/approvals/{legacy}/reject", json={"reason": "no"}, headers=checker.auth
        )
        assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
        # The maker retrying after the approval gets the same request, not a second deposit.
        assert (await cash(7_500_00, key)).json()["approval_id"] == approval_id
    assert await deposits_of(db, account) == [5_000_00, 7_500_00]
    tx = await db.fetchval(
        "SELECT payload->>'transaction_id' FROM events WHERE stream_id = $1::uuid"
        " AND event_type = 'MoneyDeposited' ORDER BY version DESC LIMIT 1",
        account,
    )
    assert tx == approval_id  # the ledger posting names the request that approved it
    trail = await db.fetch(
        "SELECT action, outcome, actor_id::text AS actor FROM audit_log"
        " WHERE target_id IN ($1, $2, $3) ORDER BY id",
        account,
        approval_id,
        legacy,
    )
    got: list[tuple[Any, ...]] = [(t["action"], t["outcome"], t["actor"]) for t in trail]
    assert got.count(("approval_requested", "accepted", maker.user_id)) == 2
    assert ("approval_approved", "denied", maker.user_id) in got
    assert ("deposit_cash", "accepted", checker.user_id) in got
    assert ("approval_approved", "accepted", checker.user_id) in got
    assert ("approval_rejected", "accepted", checker.user_id) in got
    assert got.count(("deposit_cash", "accepted", checker.user_id)) == 1


async def test_a_request_kept_before_its_answer_was_stored_is_still_answered_once(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    api_factory: Callable[..., ManagedProcess],
) -> None:
    """A request kept without its 202 stored under the maker's key (before migration
    0014, or by a process that died in between): a retry finds the kept request when
    keeping it again conflicts, and stores the answer; 0014 stores it for older ones."""
    maker = await staff(http, stack, "teller", "Mo Maker")
    account = (await (await sign_up(http, "Ola Owner")).open_account())["id"]
    api = api_factory(extra_env=CASH_FOUR_EYES)
    key = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=str(api.url), timeout=30) as h:

        async def cash() -> httpx.Response:
            return await h.post(
                f"/api/v1/accounts/{account}/cash-deposits",
                json={"amount": 8_000_00},
                headers={**maker.auth, "Idempotency-Key": key},
            )

        async def forget_answer() -> None:
            deleted = await db.execute(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2",
                str(maker.user_id),
                key,
            )
            assert deleted == "DELETE 1"

        first = await cash()
        assert first.status_code == 202, first.text
        approval_id = first.json()["approval_id"]
        await forget_answer()
        again = await cash()
        assert again.status_code == 202 and again.json()["approval_id"] == approval_id
        replayed = await cash()  # the answer is stored again
        assert replayed.headers.get("Idempotent-Replayed") == "true", replayed.text
        assert replayed.json()["approval_id"] == approval_id
        await forget_answer()
        migration = MIGRATIONS_DIR / "0014_approval_answers.sql"
        await db.execute(migration.read_text())
        replayed = await cash()
        assert replayed.status_code == 202, replayed.text
        assert replayed.json()["approval_id"] == approval_id
        assert replayed.headers.get("Idempotent-Replayed") == "true"
        reused = await h.post(
            f"/api/v1/accounts/{account}/cash-deposits",
            json={"amount": 8_100_00},
            headers={**maker.auth, "Idempotency-Key": key},
        )
        assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    kept = await db.fetchval("SELECT count(*) FROM approval_requests WHERE request_key = $1", key)
    assert kept == 1
    assert await deposits_of(db, account) == []


async def test_raising_a_limit_waits_for_a_second_member_of_staff_lowering_does_not(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    api_factory: Callable[..., ManagedProcess],
) -> None:
    maker = await staff(http, stack, "teller", "Lena Limits")
    checker = await admin(http, stack)
    owner = await sign_up(http, "Paul Payer")
    account = (await owner.open_account())["id"]
    api = api_factory(extra_env=CASH_FOUR_EYES)
    async with httpx.AsyncClient(base_url=str(api.url), timeout=30) as h:

        async def set_limits(per_tx: int, daily: int, who: Customer = maker) -> httpx.Response:
            body = {"per_transaction": per_tx, "daily_outgoing": daily, "reason": "asked"}
            return await h.put(f"/api/v1/accounts/{account}/limits", json=body, headers=who.auth)

        async def limits_now() -> tuple[int, int]:
            row = await db.fetchrow(
                "SELECT payload FROM events WHERE stream_id = $1::uuid"
                " AND event_type IN ('AccountOpened', 'AccountLimitsChanged')"
                " ORDER BY version DESC LIMIT 1",
                account,
            )
            got = json.loads(row["payload"])
            return got["per_transaction_limit"], got["daily_outgoing_limit"]

        r = await set_limits(100_00, 200_00)  # lower than the defaults: at once
        assert r.status_code == 200 and r.json()["daily_outgoing"] == 200_00, r.text
        r = await set_limits(50_00, 300_00)  # one down, one up: the whole change waits
        assert r.status_code == 202 and r.json()["action"] == "set_account_limits", r.text
        approval_id = r.json()["approval_id"]
        assert await limits_now() == (100_00, 200_00)
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=maker.auth)
        assert r.status_code == 403, r.text
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=checker.auth)
        assert r.status_code == 200 and r.json()["result_status"] == 200, r.text
        assert await limits_now() == (50_00, 300_00)
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=checker.auth)
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text  # a retry
        assert await limits_now() == (50_00, 300_00)
        r = await h.post(
            f"/api/v1/approvals/{approval_id}/reject", json={"reason": "no"}, headers=checker.auth
        )
        assert r.status_code == 422 and r.json()["code"] == "approval_not_pending"
        # A payment sees the approved limits.
        r = await owner.withdraw(account, 50_01)
        assert r.status_code == 422 and r.json()["code"] == "transaction_limit_exceeded"
        # A raise left pending past its 24 hours expires: kept, never applied.
        r = await set_limits(50_00, 400_00)
        assert r.status_code == 202, r.text
        stale = r.json()["approval_id"]
        await db.execute(
            "UPDATE approval_requests SET expires_at = now() - interval '1 second'"
            " WHERE id = $1::uuid",
            stale,
        )
        r = await h.post(f"/api/v1/approvals/{stale}/approve", headers=checker.auth)
        assert r.status_code == 422 and "expired" in r.json()["detail"], r.text
        kept = (await h.get("/api/v1/approvals?status=expired", headers=checker.auth)).json()
        assert stale in [a["id"] for a in kept["items"]]
        assert await limits_now() == (50_00, 300_00)
    changes = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1::uuid"
        " AND event_type = 'AccountLimitsChanged'",
        account,
    )
    assert changes == 2  # the lowering and the approved raise, once
    rows = await db.fetch(
        "SELECT action, outcome, actor_id::text AS actor FROM audit_log"
        " WHERE action = 'set_account_limits' AND target_id = $1 ORDER BY id",
        account,
    )
    got = [(r["outcome"], r["actor"]) for r in rows]
    assert ("accepted", maker.user_id) in got and ("accepted", checker.user_id) in got
