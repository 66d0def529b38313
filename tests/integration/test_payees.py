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
