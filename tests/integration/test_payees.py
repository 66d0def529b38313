"""Payees and confirmation of payee (issue #17): save a beneficiary by account
number and nickname; the answer says whether the name matches, never the name."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from infra.local.stack import EmbeddedStack
from server.domain import account_number
from tests.support.customers import sign_up
from tests.support.staff import audit_rows, staff


async def test_a_customer_saves_a_payee_and_learns_only_whether_the_name_matches(
    http: httpx.AsyncClient, stack: EmbeddedStack, db: asyncpg.Pool
) -> None:
    ada, bob = await sign_up(http, "Ada Saver"), await sign_up(http, "Robert Payee")
    target = (await bob.open_account())["id"]
    number = (await bob.account(target)).json()["account_number"]

    async def add(name: str, nickname: str, num: str = number) -> httpx.Response:
        body = {"account_number": num, "holder_name": name, "nickname": nickname}
        return await http.post("/api/v1/payees", json=body, headers=ada.auth)

    r = await add("Robert Payee", "Bob")
    assert r.status_code == 201, r.text
    assert r.json() == {"account_number": number, "nickname": "Bob", "name_match": "match"}
    r = await add("R Payee", "Bobby")  # adding again renames; close match
    assert r.json()["name_match"] == "close_match" and "Robert" not in r.text
    assert (await add("Someone Else", "Who")).json()["name_match"] == "no_match"
    listed = await db.fetch(
        "SELECT nickname, name_match FROM payees WHERE owner_id = $1", uuid.UUID(ada.user_id)
    )
    assert [tuple(r) for r in listed] == [("Who", "no_match")]  # one row: adding renamed it
    nobody = account_number.formatted(account_number.from_serial(9_999_999_997))
    assert (await add("X", "Nobody", nobody)).status_code == 404

    auditor = await staff(http, stack, "auditor", "Aud Payees")
    rows = await audit_rows(http, auditor, account=target)
    added = [r for r in rows if r["action"] == "add_payee"]
    assert len(added) == 3 and {r["actor_id"] for r in added} == {ada.user_id}


async def test_a_customer_lists_and_removes_their_own_payees_only(
    http: httpx.AsyncClient, stack: EmbeddedStack, db: asyncpg.Pool
) -> None:
    ann, cy = await sign_up(http, "Ann Lister"), await sign_up(http, "Cy Other")
    names = ("Zed Payee", "Amy Payee")
    holders = [await sign_up(http, name) for name in names]
    numbers = []
    for holder in holders:
        account = (await holder.open_account())["id"]
        numbers.append((await holder.account(account)).json()["account_number"])
    for name, number, nick in zip(names, numbers, ("Zed", "Amy"), strict=True):
        body = {"account_number": number, "holder_name": name, "nickname": nick}
        r = await http.post("/api/v1/payees", json=body, headers=ann.auth)
        assert r.status_code == 201, r.text

    r = await http.get("/api/v1/payees", headers=ann.auth)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "items": [
            {"account_number": numbers[1], "nickname": "Amy", "name_match": "match"},
            {"account_number": numbers[0], "nickname": "Zed", "name_match": "match"},
        ]
    }
    assert (await http.get("/api/v1/payees", headers=cy.auth)).json() == {"items": []}
    # The OPTIONS answer of the path names both methods (the Litestar 2 quirk is fixed).
    allow = (await http.options("/api/v1/payees", headers=ann.auth)).headers["allow"]
    assert {"GET", "POST"} <= set(allow.split(", ")), allow

    # Someone else cannot remove Ann's payee; Ann removes it by number (spaces or not).
    r = await http.delete(f"/api/v1/payees/{numbers[0]}", headers=cy.auth)
    assert r.status_code == 404 and r.json()["code"] == "payee_not_found", r.text
    r = await http.delete(f"/api/v1/payees/{numbers[0].replace(' ', '')}", headers=ann.auth)
    assert r.status_code == 204, r.text
    listed = (await http.get("/api/v1/payees", headers=ann.auth)).json()["items"]
    assert [p["nickname"] for p in listed] == ["Amy"]
    r = await http.delete(f"/api/v1/payees/{numbers[0]}", headers=ann.auth)
    assert r.status_code == 404, r.text  # already gone
    r = await http.delete("/api/v1/payees/XN00NWBK0000000001", headers=ann.auth)
    assert r.status_code in (400, 422) and r.json()["code"] == "invalid_account_number"
    removed = await db.fetch(
        "SELECT outcome FROM audit_log WHERE action = 'remove_payee' AND actor_id = $1 ORDER BY id",
        uuid.UUID(ann.user_id),
    )
    assert [r["outcome"] for r in removed] == ["accepted", "rejected"]
