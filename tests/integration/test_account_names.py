"""A customer renames an account: the new name is the account's everywhere (the
account, the list, the read model's fold, this month's statement, the owner's other
devices through the live feed), the same name again
changes nothing, and what cannot be a name, another's account or a closed one is
refused with a code, writing nothing."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from websockets.asyncio.client import connect

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from server.projections.check import find_differences
from tests.integration.test_live import hello, until, ws_url
from tests.integration.test_projections import wait_projected
from tests.integration.test_statements import month_label, parse_csv, statement
from tests.support.customers import Customer, sign_up
from tests.support.staff import admin, audit_rows, staff


async def rename(
    who: Customer, account: str, name: object, key: str | None = None
) -> httpx.Response:
    headers = {**who.auth, **({"Idempotency-Key": key} if key else {})}
    return await who.http.patch(f"/api/v1/accounts/{account}", json={"name": name}, headers=headers)


async def events_of(db: asyncpg.Pool, account: str) -> list[str]:
    rows = await db.fetch(
        "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version", uuid.UUID(account)
    )
    return [r["event_type"] for r in rows]


async def test_a_renamed_account_is_called_by_its_new_name_everywhere(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada = await sign_up(http, "Ada Renames")
    account = (await ada.open_account(name="Everyday"))["id"]
    assert (await ada.deposit(account, 12_00)).status_code == 201

    key = str(uuid.uuid4())
    async with connect(ws_url(api_url, ada.token)) as ws:  # Ada's other device
        await hello(ws, {account: 2})
        r = await rename(ada, account, "  Holiday fund ", key)
        assert r.status_code == 200, r.text
        told = await until(ws, lambda m: m["type"] == "AccountNameChanged")
    assert r.json() == {"account_id": account, "name": "Holiday fund", "version": 3}
    assert told == {"type": "AccountNameChanged", **r.json()}
    again = await rename(ada, account, "  Holiday fund ", key)  # a retry: the same answer
    assert (again.json(), again.headers.get("idempotent-replayed")) == (r.json(), "true")
    same = await rename(ada, account, "Holiday fund")  # already its name: nothing written
    assert (same.status_code, same.json()["version"]) == (200, 3)
    assert await events_of(db, account) == ["AccountOpened", "MoneyDeposited", "AccountRenamed"]

    await wait_projected(db, account, 3)
    shown = await ada.account(account)
    assert (shown.json()["name"], shown.json()["balance"]["amount"]) == ("Holiday fund", 12_00)
    listed = (await http.get("/api/v1/accounts", headers=ada.auth)).json()["items"]
    assert [a["name"] for a in listed] == ["Holiday fund"]
    view = await db.fetchval(
        "SELECT name FROM account_view WHERE account_id = $1", uuid.UUID(account)
    )
    assert view == "Holiday fund"
    async with db.acquire() as conn:
        report = await find_differences(conn)
    assert not [d for d in report.differences if account in d], report.differences
    now = await db.fetchval("SELECT clock_timestamp()")
    summary, _ = parse_csv(await statement(ada, account, month_label(now), "csv"))
    assert summary["account_name"][0] == "Holiday fund"


async def test_a_bad_name_anothers_account_or_a_closed_one_is_refused_and_nothing_written(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada = await sign_up(http, "Ada Refused")
    account = (await ada.open_account(name="Everyday"))["id"]
    bob = await sign_up(http, "Bob Intruder")

    for bad in ("", "   ", "Rent\nDue", "x" * 65, "evil\u202eevil", 42, None):
        r = await rename(ada, account, bad)
        assert (r.status_code, r.json()["code"]) == (400, "invalid_body"), (bad, r.text)
    theirs = await rename(bob, account, "Mine now")
    assert (theirs.status_code, theirs.json()["code"]) == (404, "account_not_found")
    unknown = await rename(ada, str(uuid.uuid4()), "Nowhere")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "account_not_found")
    assert await events_of(db, account) == ["AccountOpened"]

    closed = await http.post(
        f"/api/v1/accounts/{account}/close",
        headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert closed.status_code == 200, closed.text
    late = await rename(ada, account, "Old")
    assert (late.status_code, late.json()["code"]) == (422, "account_closed")
    assert await events_of(db, account) == ["AccountOpened", "AccountClosed"]


async def test_an_admin_renames_a_customers_account_on_request_and_a_teller_cannot(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada = await sign_up(http, "Ada Phoned")
    account = (await ada.open_account(name="Evryday"))["id"]
    teller = await staff(http, stack, "teller", "Tom Teller")
    refused = await rename(teller, account, "Everyday")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert await events_of(db, account) == ["AccountOpened"]

    boss = await admin(http, stack)
    done = await rename(boss, account, "Everyday")
    assert done.status_code == 200, done.text
    assert (await ada.account(account)).json()["name"] == "Everyday"
    actor = await db.fetchval(
        "SELECT metadata->>'actor_id' FROM events WHERE stream_id = $1 AND version = 2",
        uuid.UUID(account),
    )
    assert actor == boss.user_id  # the event says who renamed it
    auditor = await staff(http, stack, "auditor", "Aud Itor")
    rows = await audit_rows(http, auditor, account=account)
    renames = {(r["actor_id"], r["outcome"]) for r in rows if r["action"] == "rename_account"}
    assert (boss.user_id, "accepted") in renames  # the trail says who renamed it
    assert (teller.user_id, "accepted") not in renames
