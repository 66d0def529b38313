"""Two customers use the bank end to end over HTTP against the real stack."""

from __future__ import annotations

import httpx

from tests.support.customers import sign_in, sign_up


async def test_two_customers_open_accounts_and_move_money(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada Lovelace")
    bob = await sign_up(http, "Bob Babbage")

    ada_main = await ada.open_account("EUR", "Everyday")
    assert ada_main["balance"] == {"amount": 0, "currency": "EUR"}
    assert ada_main["status"] == "active" and ada_main["version"] == 1
    ada_savings = (await ada.open_account("EUR", "Savings"))["id"]
    bob_main = (await bob.open_account("EUR", "Main"))["id"]

    r = await ada.deposit(ada_main["id"], 100_00, description="salary")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["balance"] == {"amount": 100_00, "currency": "EUR"} and body["version"] == 2
    assert body["transaction_id"]

    r = await ada.withdraw(ada_main["id"], 20_00)
    assert r.status_code == 201 and r.json()["balance"]["amount"] == 80_00

    r = await ada.transfer(ada_main["id"], ada_savings, 30_00, description="put aside")
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == {"amount": 50_00, "currency": "EUR"}

    r = await ada.transfer(ada_main["id"], bob_main, 25_00, description="lunch")
    assert r.status_code == 201, r.text
    assert r.json()["balance"]["amount"] == 25_00 and r.json()["transfer_id"]

    assert await ada.balance(ada_main["id"]) == 25_00
    assert await ada.balance(ada_savings) == 30_00
    assert await bob.balance(bob_main) == 25_00

    listed = (await http.get("/api/v1/accounts", headers=ada.auth)).json()["items"]
    assert {a["id"] for a in listed} == {ada_main["id"], ada_savings}
    assert sum(a["balance"]["amount"] for a in listed) == 55_00

    account = (await ada.account(ada_main["id"])).json()
    assert set(account) >= {"id", "name", "currency", "status", "balance", "version"}
    assert account["version"] == 5  # opened, deposit, withdrawal, two transfers out


async def test_the_same_email_cannot_register_twice(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada Twice")
    r = await http.post(
        "/api/v1/auth/register",
        json={
            "email": ada.email.upper(),
            "password": "another long password",
            "full_name": "Other",
        },
    )
    assert r.status_code == 409 and r.json()["code"] == "email_taken"


async def test_a_wrong_password_does_not_sign_in(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada Forgetful")
    r = await sign_in(http, ada.email, "not the password at all")
    assert r.status_code == 400 and r.json()["code"] == "invalid_grant"
    r = await sign_in(http, "nobody@example.com", "not the password at all")
    assert r.status_code == 400 and r.json()["code"] == "invalid_grant"


async def test_a_short_password_is_refused_with_a_reason(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/api/v1/auth/register",
        json={"email": "short@example.com", "password": "abc", "full_name": "S"},
    )
    assert r.status_code == 400
    assert "at least 12 characters" in r.json()["detail"]


async def test_every_account_endpoint_needs_a_bearer_token(http: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/accounts"),
        ("POST", "/api/v1/accounts"),
        ("GET", "/api/v1/accounts/00000000-0000-0000-0000-000000000000"),
        ("POST", "/api/v1/transfers"),
    ]:
        r = await http.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code)
        r = await http.request(method, path, json={}, headers={"Authorization": "Bearer junk"})
        assert r.status_code == 401, (method, path, r.status_code)


async def test_rules_are_answered_422_with_a_code(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada Rules")
    eur = (await ada.open_account("EUR"))["id"]
    usd = (await ada.open_account("USD", "Dollars"))["id"]
    await ada.deposit(eur, 10_00)

    r = await ada.withdraw(eur, 10_01)
    assert r.status_code == 422 and r.json()["code"] == "insufficient_funds"
    r = await ada.transfer(eur, usd, 1_00)
    assert r.status_code == 422 and r.json()["code"] == "currency_mismatch"
    r = await ada.transfer(eur, eur, 1_00)
    assert r.status_code == 422 and r.json()["code"] == "same_account"
    r = await ada.transfer(eur, "00000000-0000-4000-8000-000000000000", 1_00)
    assert r.status_code == 422 and r.json()["code"] == "destination_account_not_found"
    r = await ada.deposit(eur, 1_000_000_01)
    assert r.status_code == 422 and r.json()["code"] == "amount_over_limit"
    r = await http.post("/api/v1/accounts", json={"currency": "XXX", "name": "x"}, headers=ada.auth)
    assert r.status_code == 422 and r.json()["code"] == "unsupported_currency"
    r = await http.post(f"/api/v1/accounts/{eur}/close", headers=ada.auth)
    assert r.status_code == 422 and r.json()["code"] == "account_not_empty"
    assert await ada.balance(eur) == 10_00


async def test_health_and_openapi(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health/live")).status_code == 200
    ready = await http.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert {k for k, v in ready.json()["checks"].items() if v["ok"]} == {
        "postgres",
        "redis",
        "kafka",
    }
    schema = (await http.get("/schema/openapi.json")).json()
    assert "/api/v1/transfers" in schema["paths"]
    assert "requestBody" in schema["paths"]["/api/v1/transfers"]["post"]
