"""A money movement may name its currency; the ledger never converts.

Absent, the amount is in the account's currency (existing clients are unchanged);
named, it must be the account's: any other is refused with 422 currency_mismatch
and changes nothing, and the refusal is replayed for a retry with the same key."""

from __future__ import annotations

import uuid

import httpx

from tests.support.customers import sign_up


async def test_a_deposit_in_the_accounts_currency_or_none_is_accepted_another_is_refused(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada Currency")
    account = (await ada.open_account(currency="EUR"))["id"]
    url = f"/api/v1/accounts/{account}/deposits"

    def headers(key: str) -> dict[str, str]:
        return {**ada.auth, "Idempotency-Key": key}

    plain = await http.post(url, json={"amount": 1_00}, headers=headers(str(uuid.uuid4())))
    named = await http.post(
        url, json={"amount": 2_00, "currency": "EUR"}, headers=headers(str(uuid.uuid4()))
    )
    key = str(uuid.uuid4())
    other = await http.post(url, json={"amount": 5_00, "currency": "USD"}, headers=headers(key))
    again = await http.post(url, json={"amount": 5_00, "currency": "USD"}, headers=headers(key))

    assert (plain.status_code, named.status_code) == (201, 201)
    assert named.json()["balance"] == {"amount": 3_00, "currency": "EUR"}
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "currency_mismatch"
    assert "EUR" in other.json()["detail"] and "USD" in other.json()["detail"]
    assert again.status_code == 422 and again.json()["code"] == "currency_mismatch"
    assert await ada.balance(account) == 3_00


async def test_withdrawals_and_transfers_check_the_named_currency_too(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada Currencies")
    eur = (await ada.open_account(currency="EUR"))["id"]
    other = (await ada.open_account(currency="EUR", name="Savings"))["id"]
    assert (await ada.deposit(eur, 10_00)).status_code == 201

    withdrawal = await http.post(
        f"/api/v1/accounts/{eur}/withdrawals",
        json={"amount": 1_00, "currency": "GBP"},
        headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    transfer = await http.post(
        "/api/v1/transfers",
        json={"from_account_id": eur, "to_account_id": other, "amount": 1_00, "currency": "USD"},
        headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    fine = await http.post(
        "/api/v1/transfers",
        json={"from_account_id": eur, "to_account_id": other, "amount": 1_00, "currency": "EUR"},
        headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
    )

    assert (withdrawal.status_code, withdrawal.json()["code"]) == (422, "currency_mismatch")
    assert (transfer.status_code, transfer.json()["code"]) == (422, "currency_mismatch")
    assert fine.status_code == 201, fine.text
    assert (await ada.balance(eur), await ada.balance(other)) == (9_00, 1_00)


async def test_a_currency_that_is_not_a_code_is_a_bad_request(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada Lowercase")
    account = (await ada.open_account())["id"]

    r = await http.post(
        f"/api/v1/accounts/{account}/deposits",
        json={"amount": 1_00, "currency": "eur"},
        headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
    )

    assert r.status_code == 400, r.text
    assert "currency" in r.text
