"""Account numbers over the API (issue #17): shown on every account, accepted in the
path wherever an account is named; UUIDs stay the internal ids."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from server.domain import account_number
from tests.integration.test_projections import wait_projected
from tests.support.customers import sign_up


async def test_the_database_numbers_accounts_as_the_domain_module_does(db: asyncpg.Pool) -> None:
    got = await db.fetch("SELECT n, bank_account_number(n) AS num FROM generate_series(1, 300) n")
    assert all(r["num"] == account_number.from_serial(r["n"]) for r in got)


async def test_an_account_is_found_by_the_number_people_read_out(
    http: httpx.AsyncClient, db: asyncpg.Pool, cdc: ManagedProcess, projections: ManagedProcess
) -> None:
    ada = await sign_up(http, "Ada Numbered")
    first = await ada.open_account()
    second = await ada.open_account(name="Savings")
    got = (await ada.account(first["id"])).json()
    number = got["account_number"]
    assert first["account_number"] == number  # the opening answer carries it already
    assert second["account_number"] not in (None, number)
    assert account_number.is_valid(number.replace(" ", "")) and len(number.split()) == 5
    listed = (await http.get("/api/v1/accounts", headers=ada.auth)).json()["items"]
    assert {a["id"]: a["account_number"] for a in listed}[first["id"]] == number
    assert len({a["account_number"] for a in listed}) == 2
    stored = await db.fetchval(
        "SELECT account_number FROM account_owners WHERE account_id = $1", uuid.UUID(second["id"])
    )
    assert account_number.formatted(stored) in {a["account_number"] for a in listed}

    compact = number.replace(" ", "").lower()
    by_number = await http.get(f"/api/v1/accounts/{compact}", headers=ada.auth)
    assert by_number.status_code == 200 and by_number.json()["id"] == first["id"]
    r = await ada.deposit(compact, 12_00)  # a path that moves money takes it too
    assert r.status_code == 201, r.text
    r = await http.get(f"/api/v1/accounts/{number}", headers=ada.auth)  # spaces too
    assert r.status_code == 200 and r.json()["balance"]["amount"] == 12_00
    assert r.json()["account_number"] == number
    # once projected (the worker refreshes the cache from events), still numbered
    await wait_projected(db, first["id"], r.json()["version"])
    again = await http.get(f"/api/v1/accounts/{first['id']}", headers=ada.auth)
    assert again.json()["account_number"] == number

    mistyped = compact[:-1] + ("2" if compact[-1] != "2" else "3")
    r = await http.get(f"/api/v1/accounts/{mistyped}", headers=ada.auth)
    assert r.status_code == 422 and r.json()["code"] == "invalid_account_number", r.text
    nobody = account_number.from_serial(9_999_999_999)
    assert (await http.get(f"/api/v1/accounts/{nobody}", headers=ada.auth)).status_code == 404
    bob = await sign_up(http, "Bob Nosy")  # another customer's number does not exist for Bob
    assert (await http.get(f"/api/v1/accounts/{compact}", headers=bob.auth)).status_code == 404


async def test_a_customer_pays_to_the_account_number_someone_read_out(
    http: httpx.AsyncClient,
) -> None:
    ada, bob = await sign_up(http, "Ada Payer"), await sign_up(http, "Bob Payee")
    source = (await ada.open_account())["id"]
    target = (await bob.open_account())["id"]
    assert (await ada.deposit(source, 100_00)).status_code == 201
    bobs_number = (await bob.account(target)).json()["account_number"]
    key = str(uuid.uuid4())
    body = {"from_account": source, "to_account_number": bobs_number.lower(), "amount": 30_00}

    async def pay(payload: dict[str, object], k: str = key) -> httpx.Response:
        return await http.post(
            "/api/v1/transfers/by-account-number",
            json=payload,
            headers={**ada.auth, "Idempotency-Key": k},
        )

    r = await pay(body)
    assert r.status_code == 201, r.text
    assert (await pay(body)).headers.get("Idempotent-Replayed") == "true"  # once, not twice
    assert await ada.balance(source) == 70_00 and await bob.balance(target) == 30_00

    mistyped = bobs_number[:-1] + ("1" if bobs_number[-1] != "1" else "2")
    r = await pay({**body, "to_account_number": mistyped}, str(uuid.uuid4()))
    assert r.status_code == 422 and r.json()["code"] == "invalid_account_number"
    nobody = {**body, "to_account_number": account_number.from_serial(9_999_999_998)}
    assert (await pay(nobody, str(uuid.uuid4()))).status_code == 404
    assert await ada.balance(source) == 70_00


async def test_the_opening_answer_and_its_replay_carry_the_account_number(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada Opener")
    headers = {**ada.auth, "Idempotency-Key": str(uuid.uuid4())}
    body = {"currency": "EUR", "name": "Bills"}
    first = await http.post("/api/v1/accounts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    number = first.json()["account_number"]
    assert account_number.is_valid(number.replace(" ", "")) and len(number.split()) == 5
    again = await http.post("/api/v1/accounts", json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["account_number"] == number
    assert (await ada.account(first.json()["id"])).json()["account_number"] == number
