"""Where money comes from (issue #17): a teller takes cash for a customer; a customer
tops up from outside only in development mode; production refuses it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.support.customers import sign_up
from tests.support.staff import audit_rows, staff


async def test_a_teller_takes_cash_into_a_customers_account_and_it_is_audited(
    http: httpx.AsyncClient, stack: EmbeddedStack, db: asyncpg.Pool
) -> None:
    ada = await sign_up(http, "Ada Cash")
    account = (await ada.open_account())["id"]
    tom = await staff(http, stack, "teller", "Tom Cashdesk")
    key = str(uuid.uuid4())
    body = {"amount": 250_00, "description": "cash at the desk"}
    headers = {**tom.auth, "Idempotency-Key": key}

    r = await http.post(f"/api/v1/accounts/{account}/cash-deposits", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "cash" and r.json()["notice"] is None
    again = await http.post(f"/api/v1/accounts/{account}/cash-deposits", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await ada.balance(account) == 250_00  # once, not twice

    payload = await db.fetchval(
        "SELECT payload FROM events WHERE stream_id = $1 AND event_type = 'MoneyDeposited'",
        uuid.UUID(account),
    )
    assert '"source": "cash"' in payload or '"source":"cash"' in payload

    auditor = await staff(http, stack, "auditor", "Aud Cash")
    rows = await audit_rows(http, auditor, account=account)
    cash = [r for r in rows if r["action"] == "deposit_cash"]
    assert [r["outcome"] for r in cash] == ["replayed", "accepted"]
    assert cash[1]["actor_id"] == tom.user_id and cash[1]["details"] == {"amount": 250_00}

    # a customer cannot take cash; a teller cannot pay cash into their own account
    r = await http.post(
        f"/api/v1/accounts/{account}/cash-deposits",
        json={"amount": 1_00},
        headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert "you are signed in as a customer" in r.json()["detail"], r.text
    r = await http.post(
        f"/api/v1/accounts/{account}/cash-deposits",
        json={"amount": 1_00},
        headers={**auditor.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 403 and "signed in as an auditor" in r.json()["detail"], r.text
    own = (await tom.open_account())["id"]
    r = await http.post(
        f"/api/v1/accounts/{own}/cash-deposits",
        json={"amount": 1_00},
        headers={**tom.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 403 and r.json()["code"] == "own_account_cash_deposit", r.text
    assert await tom.balance(own) == 0


async def test_a_customers_top_up_says_it_is_a_development_top_up(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada Topup")
    account = (await ada.open_account())["id"]
    r = await http.post(
        f"/api/v1/accounts/{account}/top-ups",
        json={"amount": 20_00},
        headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "dev_top_up" and "Development top-up" in r.json()["notice"]
    legacy = await ada.deposit(account, 5_00)  # the old path: a top-up too
    assert legacy.status_code == 201 and legacy.json()["source"] == "dev_top_up"
    assert await ada.balance(account) == 25_00


async def test_production_refuses_a_customers_deposit_and_caps_hold_per_day(
    http: httpx.AsyncClient, stack: EmbeddedStack, api_factory: Callable[..., ManagedProcess]
) -> None:
    ada = await sign_up(http, "Ada Production")
    account = (await ada.open_account())["id"]
    production = api_factory(extra_env={"BANK_DEV_TOP_UPS": "false"})
    capped = api_factory(extra_env={"BANK_DEV_TOP_UP_DAILY_CAP": "10000"})
    tom = await staff(http, stack, "teller", "Tom Production")

    async with httpx.AsyncClient(base_url=production.url, timeout=10) as prod:
        for path in ("deposits", "top-ups"):
            r = await prod.post(
                f"/api/v1/accounts/{account}/{path}",
                json={"amount": 1_00},
                headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
            )
            assert r.status_code == 403 and r.json()["code"] == "top_ups_disabled", r.text
            assert "development mode" in r.json()["detail"]
        # GraphQL takes the same rule: no money from nothing there either.
        r = await prod.post(
            "/graphql",
            json={
                "query": "mutation($a: UUID!, $k: String!) { deposit(accountId: $a, "
                "amount: 100, idempotencyKey: $k) { balance { amount } } }",
                "variables": {"a": account, "k": str(uuid.uuid4())},
            },
            headers=ada.auth,
        )
        assert r.json()["errors"][0]["extensions"]["code"] == "top_ups_disabled", r.text
        r = await prod.post(  # cash at the desk still works in production
            f"/api/v1/accounts/{account}/deposits",
            json={"amount": 7_00},
            headers={**tom.auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 201 and r.json()["source"] == "cash", r.text
        # GET /me tells an app whether to offer Deposit at all: not to Ada here; to the
        # teller, whose deposits are cash; over GraphQL as over REST.
        for who, there, can in ((ada, prod, False), (tom, prod, True), (ada, http, True)):
            me = await there.get("/api/v1/me", headers=who.auth)
            assert me.status_code == 200 and me.json()["can_deposit"] is can, me.text
        r = await prod.post("/graphql", json={"query": "{ me { canDeposit } }"}, headers=ada.auth)
        assert r.json()["data"]["me"]["canDeposit"] is False, r.text

    async with httpx.AsyncClient(base_url=capped.url, timeout=10) as dev:
        second = (await ada.open_account(name="Second"))["id"]

        async def top_up(acc: str, amount: int) -> httpx.Response:
            return await dev.post(
                f"/api/v1/accounts/{acc}/top-ups",
                json={"amount": amount},
                headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
            )

        assert (await top_up(account, 60_00)).status_code == 201
        r = await top_up(second, 40_01)  # the cap is per customer, over both accounts
        assert r.status_code == 422 and r.json()["code"] == "top_up_daily_cap_exceeded"
        assert "40.00 EUR is left today" in r.json()["detail"]
        assert (await top_up(second, 40_00)).status_code == 201
    assert await ada.balance(account) == 67_00 and await ada.balance(second) == 40_00


async def test_graphql_holds_a_large_cash_deposit_for_approval_like_rest(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    api_factory: Callable[..., ManagedProcess],
) -> None:
    ada = await sign_up(http, "Ada Foureyes")
    account = (await ada.open_account())["id"]
    tom = await staff(http, stack, "teller", "Tom Foureyes")
    four_eyes = api_factory(
        extra_env={
            "BANK_APPROVAL_REQUIRED": "deposit_cash",
            "BANK_CASH_DEPOSIT_APPROVAL_THRESHOLD": "10000",
        }
    )
    mutation = (
        "mutation($a: UUID!, $n: MinorUnits!, $k: String!) { deposit(accountId: $a, amount: $n,"
        " idempotencyKey: $k) { balance { amount } } }"
    )
    async with httpx.AsyncClient(base_url=four_eyes.url, timeout=10) as h:

        async def deposit(amount: int) -> httpx.Response:
            variables = {"a": account, "n": amount, "k": str(uuid.uuid4())}
            body = {"query": mutation, "variables": variables}
            return await h.post("/graphql", json=body, headers=tom.auth)

        r = await deposit(100_00)  # at the threshold: credited at once
        assert r.json()["data"]["deposit"]["balance"]["amount"] == 100_00, r.text
        r = await deposit(100_01)
        error = r.json()["errors"][0]
        assert error["extensions"]["code"] == "approval_pending", r.text
        kept = error["extensions"]["approval_id"]
    assert await ada.balance(account) == 100_00
    row = await db.fetchrow(
        "SELECT action, status, (payload->>'amount')::bigint AS amount FROM approval_requests"
        " WHERE id = $1::uuid",
        kept,
    )
    assert (row["action"], row["status"], row["amount"]) == ("deposit_cash", "pending", 100_01)
