"""OWASP API4:2023 Unrestricted Resource Consumption.

Oversized bodies, page sizes and credentials are refused before any work is
done; money-moving requests are rate limited per user (429 + Retry-After); a customer
holds a bounded number of open accounts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from tests.support.customers import Customer, sign_up
from tests.support.staff import staff

MOST_OPEN_ACCOUNTS = Settings().max_open_accounts_per_customer


async def test_api4_resource_consumption_oversized_bodies_are_413(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
) -> None:
    ada = await sign_up(http, "Ada Bulky")
    account = (await ada.open_account())["id"]
    before = await db.fetchval("SELECT count(*) FROM events")
    huge = b'{"amount": 100, "description": "' + b"x" * (80 * 1024) + b'"}'
    for path in (f"/api/v1/accounts/{account}/deposits", "/api/v1/transfers", "/api/v1/accounts"):
        r = await http.post(
            path,
            content=huge,
            headers={
                **ada.auth,
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )
        assert r.status_code == 413, (path, r.status_code)
    r = await http.post(
        "/api/v1/auth/register", content=huge, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert await db.fetchval("SELECT count(*) FROM events") == before
    # Just under the limit is still read (and refused for what it says, not its size).
    fits = b'{"amount": 100, "description": "' + b"x" * (60 * 1024) + b'"}'
    r = await http.post(
        f"/api/v1/accounts/{account}/deposits",
        content=fits,
        headers={
            **ada.auth,
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 400 and "description" in r.json()["detail"]


async def test_api4_resource_consumption_page_sizes_are_bounded(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada = await sign_up(http, "Ada Pager")
    account = (await ada.open_account())["id"]
    for limit in ("0", "-1", "100000", "abc"):
        r = await http.get(
            f"/api/v1/accounts/{account}/transactions", params={"limit": limit}, headers=ada.auth
        )
        assert r.status_code == 400, (limit, r.text)
    assert (
        await http.get(
            f"/api/v1/accounts/{account}/transactions", params={"limit": "200"}, headers=ada.auth
        )
    ).status_code == 200
    auditor = await staff(http, stack, "auditor", "Aud Pager")
    for limit in ("0", "501", "1000000"):
        r = await http.get("/api/v1/audit", params={"limit": limit}, headers=auditor.auth)
        assert r.status_code == 400, (limit, r.text)
    r = await http.get("/api/v1/audit", params={"limit": "500"}, headers=auditor.auth)
    assert r.status_code == 200 and len(r.json()["items"]) <= 500


async def test_api4_resource_consumption_oversized_credentials_are_not_hashed(
    http: httpx.AsyncClient,
) -> None:
    r = await http.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "ada@example.com", "password": "p" * 10_000},
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    r = await http.post(
        "/api/v1/auth/register",
        json={"email": "long@example.com", "password": "p" * 10_000, "full_name": "Long"},
    )
    assert r.status_code == 400


async def test_api4_resource_consumption_money_movements_are_rate_limited_per_user(
    http: httpx.AsyncClient,
    api_factory: Callable[..., ManagedProcess],
    db: asyncpg.Pool,
) -> None:
    api = api_factory(extra_env={"BANK_MONEY_RATE_PER_SECOND": "2", "BANK_MONEY_RATE_BURST": "5"})
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as strict:
        ada = await sign_up(strict, "Ada Hasty")
        bob = await sign_up(strict, "Bob Patient")
        account = (await ada.open_account())["id"]
        bobs = (await bob.open_account())["id"]
        answers = await asyncio.gather(*(ada.deposit(account, 1_00) for _ in range(12)))
        codes = sorted(r.status_code for r in answers)
        assert codes.count(201) >= 5 and codes.count(429) >= 5, codes
        limited = next(r for r in answers if r.status_code == 429)
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 5
        accepted = codes.count(201)
        assert await Customer.balance(ada, account) == accepted * 1_00  # nothing half-done
        assert (
            await db.fetchval(
                "SELECT count(*) FROM events WHERE stream_id = $1", uuid.UUID(account)
            )
            == 1 + accepted
        )
        # Every money-moving endpoint draws on the same bucket: holds too.
        holds = await asyncio.gather(
            *(
                strict.post(
                    f"/api/v1/accounts/{account}/holds",
                    json={"amount": 1},
                    headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
                )
                for _ in range(8)
            )
        )
        assert 429 in [r.status_code for r in holds], [r.status_code for r in holds]
        # Another user is not affected, and reads are not limited.
        assert (await bob.deposit(bobs, 1_00)).status_code == 201
        assert (await ada.account(account)).status_code == 200
        # The bucket refills.
        await asyncio.sleep(1.1)
        assert (await ada.withdraw(account, 1_00)).status_code == 201


async def test_api4_resource_consumption_open_accounts_are_capped_per_customer(
    http: httpx.AsyncClient,
) -> None:
    """At most ``max_open_accounts_per_customer`` accounts that are not closed (20 by
    default): opening accounts without end would grow the store without end."""
    ada = await sign_up(http, "Ada Many Accounts")
    first_key = str(uuid.uuid4())
    body = {"currency": "EUR", "name": "Pot"}
    first = await http.post(
        "/api/v1/accounts", json=body, headers={**ada.auth, "Idempotency-Key": first_key}
    )
    assert first.status_code == 201, first.text
    for _ in range(MOST_OPEN_ACCOUNTS - 1):
        await ada.open_account(name="Pot")

    refused = await http.post("/api/v1/accounts", json=body, headers=ada.auth)
    assert (refused.status_code, refused.json()["code"]) == (422, "too_many_accounts"), refused.text
    assert f"You hold {MOST_OPEN_ACCOUNTS} open accounts" in refused.json()["detail"], refused.text
    listed = await http.get("/api/v1/accounts", headers=ada.auth)
    assert len(listed.json()["items"]) == MOST_OPEN_ACCOUNTS, listed.text  # nothing opened
    # A retry of an opening that was taken answers it again, cap or not.
    replayed = await http.post(
        "/api/v1/accounts", json=body, headers={**ada.auth, "Idempotency-Key": first_key}
    )
    assert replayed.status_code == 201 and replayed.json()["id"] == first.json()["id"]

    closing = first.json()["id"]
    r = await http.post(f"/api/v1/accounts/{closing}/close", headers=ada.auth)
    assert r.status_code == 200, r.text
    again = await http.post("/api/v1/accounts", json=body, headers=ada.auth)
    assert again.status_code == 201, again.text
    # Another customer is not affected by Ada's accounts.
    bob = await sign_up(http, "Bob One Account")
    await bob.open_account()


async def test_api4_resource_consumption_openings_at_the_same_instant_never_pass_the_cap(
    http: httpx.AsyncClient,
) -> None:
    """With one place left, twelve openings sent at once open one account: each counts
    its owner's open accounts in its own transaction, after the one before it committed
    (before, one run in four opened two or more)."""
    cy = await sign_up(http, "Cy At The Cap")
    for _ in range(MOST_OPEN_ACCOUNTS - 1):
        await cy.open_account(name="Pot")
    body = {"currency": "EUR", "name": "One more"}
    answers = await asyncio.gather(
        *(
            http.post(
                "/api/v1/accounts",
                json=body,
                headers={**cy.auth, "Idempotency-Key": str(uuid.uuid4())},
            )
            for _ in range(12)
        )
    )
    assert (
        sorted((r.status_code, r.json().get("code")) for r in answers)
        == [(201, None)] + [(422, "too_many_accounts")] * 11
    ), [r.text for r in answers]
    listed = await http.get("/api/v1/accounts", headers=cy.auth)
    assert len(listed.json()["items"]) == MOST_OPEN_ACCOUNTS, listed.text
