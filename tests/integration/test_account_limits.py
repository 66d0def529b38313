"""Outgoing limits (issue #17): staff set them; the customer reads them and what is left
today; a payment over one answers 422 with which limit and what is left today; the read
models still equal the fold."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from tests.integration.test_projections import run_projections_command, wait_projected
from tests.support.customers import sign_up
from tests.support.staff import audit_rows, staff


async def test_staff_set_limits_and_payments_over_them_are_refused_with_what_is_left(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    cdc: ManagedProcess,
    projections: ManagedProcess,
) -> None:
    ada = await sign_up(http, "Ada Limited")
    account, savings = (await ada.open_account())["id"], (await ada.open_account())["id"]
    assert (await ada.deposit(account, 1_000_00)).status_code == 201
    tom = await staff(http, stack, "teller", "Tom Limits")
    limits = {"per_transaction": 100_00, "daily_outgoing": 150_00, "reason": "customer asked"}

    r = await http.put(f"/api/v1/accounts/{account}/limits", json=limits, headers=ada.auth)
    assert r.status_code == 403, r.text  # a customer does not set their own limits
    headers = {**tom.auth, "Idempotency-Key": str(uuid.uuid4())}
    r = await http.put(f"/api/v1/accounts/{account}/limits", json=limits, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["per_transaction"] == 100_00 and body["daily_outgoing"] == 150_00
    assert body["remaining_today"] == 150_00
    r = await http.put(f"/api/v1/accounts/{account}/limits", json=limits, headers=headers)
    assert r.headers.get("Idempotent-Replayed") == "true"  # once, not twice

    over = str(uuid.uuid4())
    r = await ada.withdraw(account, 100_01, key=over)
    assert r.status_code == 422 and r.json()["code"] == "transaction_limit_exceeded", r.text
    assert r.json()["remaining_today"] == 150_00
    assert (await ada.withdraw(account, 100_00)).status_code == 201
    r = await ada.withdraw(account, 100_01, key=over)  # the first answer, as it was
    assert r.status_code == 422 and r.json()["code"] == "transaction_limit_exceeded", r.text
    assert r.json()["remaining_today"] == 150_00
    over_today = str(uuid.uuid4())
    for _ in range(2):  # the replay of a daily refusal says what was left, like the first
        r = await ada.transfer(account, savings, 50_01, key=over_today)
        assert r.status_code == 422 and r.json()["code"] == "daily_limit_exceeded", r.text
        assert (
            r.json()["remaining_today"] == 50_00
            and "50.00 EUR is left today" in (r.json()["detail"])
        )
    assert (await ada.transfer(account, savings, 50_00)).status_code == 201
    assert await ada.balance(account) == 850_00

    # Ada sees her limits and what is left today before she pays; Bob does not see hers.
    seen = await http.get(f"/api/v1/accounts/{account}/limits", headers=ada.auth)
    assert seen.status_code == 200, seen.text
    assert {k: v for k, v in seen.json().items() if k != "version"} == {
        "account_id": account,
        "per_transaction": 100_00,
        "daily_outgoing": 150_00,
        "remaining_today": 0,
        "bank_per_transaction": Settings().max_transaction_amount,  # for every account
    }
    by_staff = await http.get(f"/api/v1/accounts/{account}/limits", headers=tom.auth)
    assert by_staff.json() == seen.json()  # staff who may read the account see the same
    untouched = await http.get(f"/api/v1/accounts/{savings}/limits", headers=ada.auth)
    assert untouched.json()["remaining_today"] == untouched.json()["daily_outgoing"]
    bob = await sign_up(http, "Bob Nosy")
    theirs = await http.get(f"/api/v1/accounts/{account}/limits", headers=bob.auth)
    assert (theirs.status_code, theirs.json()["code"]) == (404, "account_not_found")

    auditor = await staff(http, stack, "auditor", "Aud Limits")
    rows = [r for r in await audit_rows(http, auditor, account=account)]
    changed = [r for r in rows if r["action"] == "set_account_limits"]
    assert [r["outcome"] for r in changed] == ["replayed", "accepted", "denied"]
    assert changed[1]["actor_id"] == tom.user_id

    head = await db.fetchval(
        "SELECT max(version) FROM events WHERE stream_id = $1", uuid.UUID(account)
    )
    await wait_projected(db, account, head)
    check = run_projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr
