"""What a customer reads: balances that never step back behind their own
writes, a history that pages exactly once through arriving postings, and daily
analytics; all from the read models, through the Redis cache."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import redis.asyncio

from infra.local.procs import ManagedProcess
from server.readmodel.cache import account_key
from tests.integration.test_projections import funded_customer, wait_projected
from tests.support.customers import sign_up


async def test_pages_hold_every_posting_exactly_once_while_new_ones_arrive(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, account = await funded_customer(http)
    for i in range(45):
        assert (await ada.deposit(account, 1_00 + i)).status_code == 201
    await wait_projected(db, account, 46)

    async def keep_depositing() -> None:
        for i in range(30):
            assert (await ada.deposit(account, 5 + i)).status_code == 201
            await asyncio.sleep(0.01)

    arriving = asyncio.create_task(keep_depositing())
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        r = await http.get(
            f"/api/v1/accounts/{account}/transactions", params=params, headers=ada.auth
        )
        assert r.status_code == 200, r.text
        page = r.json()
        versions = [t["version"] for t in page["items"]]
        assert versions == sorted(versions, reverse=True), "newest first"
        seen += versions
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        await asyncio.sleep(0.03)  # let postings arrive between pages
    await arriving

    top = seen[0]
    assert top >= 46
    assert len(seen) == len(set(seen)), "a posting appeared on two pages"
    assert sorted(seen) == list(range(2, top + 1)), "a posting was skipped"
    assert pages >= 7


async def _kept_reads(http: httpx.AsyncClient) -> float:
    """The API's count of plain reads answered from the state it kept at the head."""
    text = (await http.get("/metrics")).text
    return float(
        next(
            ln for ln in text.splitlines() if ln.startswith("bank_query_kept_reads_total")
        ).split()[1]
    )


async def _cached_version(
    redis_client: redis.asyncio.Redis, account: str, at_least: int, timeout: float = 30
) -> int:
    """The version the query cache holds for ``account``, once it is ``at_least``."""
    deadline = time.monotonic() + timeout
    while True:
        raw = await redis_client.get(account_key(uuid.UUID(account)))
        version = json.loads(raw)["version"] if raw else None
        if version is not None and version >= at_least:
            return int(version)
        if time.monotonic() > deadline:
            raise AssertionError(f"account {account} cached at v{version}, expected v{at_least}")
        await asyncio.sleep(0.02)


async def test_a_read_is_never_older_than_the_command_response(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    redis_client: redis.asyncio.Redis,
) -> None:
    ada, account = await funded_customer(http)
    r = await ada.deposit(account, 10_00)
    await wait_projected(db, account, r.json()["version"])
    # The worker refreshes the query cache just after its commit: until it has, a read
    # finds the cached version 1 there and keeps that, and the read below is not "kept".
    assert await _cached_version(redis_client, account, at_least=2) == 2
    assert (await ada.account(account)).json()["version"] == 2
    # The API process kept that state: at the stream's head, a plain read answers from it.
    kept_before = await _kept_reads(http)
    bal = (await http.get(f"/api/v1/accounts/{account}/balance", headers=ada.auth)).json()
    assert bal["version"] == 2
    assert await _kept_reads(http) == kept_before + 1

    projections.kill()  # the read models stop moving
    try:
        r = await ada.deposit(account, 5_00)
        assert r.status_code == 201
        given = r.json()
        view_version = await db.fetchval(
            "SELECT version FROM account_view WHERE account_id = $1", uuid.UUID(account)
        )
        assert view_version < given["version"], "the view should be behind for this test"

        for params in ({"min_version": given["version"]}, {}):
            got = (
                await http.get(f"/api/v1/accounts/{account}", params=params, headers=ada.auth)
            ).json()
            assert (got["balance"], got["version"]) == (given["balance"], given["version"])
            bal = (
                await http.get(
                    f"/api/v1/accounts/{account}/balance", params=params, headers=ada.auth
                )
            ).json()
            assert (bal["balance"], bal["version"]) == (given["balance"], given["version"])
        listed = (await http.get("/api/v1/accounts", headers=ada.auth)).json()["items"]
        assert [(a["id"], a["version"]) for a in listed] == [(account, given["version"])]
    finally:
        projections.restart()
    await wait_projected(db, account, given["version"])
    got = (
        await http.get(
            f"/api/v1/accounts/{account}/balance",
            params={"min_version": given["version"]},
            headers=ada.auth,
        )
    ).json()
    assert got["version"] == given["version"]


async def test_history_filters_and_daily_analytics(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, account = await funded_customer(http)
    savings = (await ada.open_account(name="Savings"))["id"]
    assert (await ada.deposit(account, 100_00, description="salary")).status_code == 201
    assert (await ada.withdraw(account, 12_50)).status_code == 201
    assert (await ada.withdraw(account, 7_50)).status_code == 201
    r = await ada.transfer(account, savings, 30_00)
    assert r.status_code == 201
    await wait_projected(db, account, r.json()["version"])

    url = f"/api/v1/accounts/{account}/transactions"
    out = (await http.get(url, params={"kind": "withdrawal"}, headers=ada.auth)).json()
    assert [t["amount"]["amount"] for t in out["items"]] == [7_50, 12_50]
    assert out["next_cursor"] is None
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert (await http.get(url, params={"from": tomorrow}, headers=ada.auth)).json()["items"] == []
    today = datetime.now(UTC).date().isoformat()
    all_today = (await http.get(url, params={"from": today, "to": today}, headers=ada.auth)).json()
    assert [t["kind"] for t in all_today["items"]] == [
        "transfer_out",
        "withdrawal",
        "withdrawal",
        "deposit",
    ]
    assert all_today["items"][0]["counterparty_account_id"] == savings

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    a = (
        await http.get(
            f"/api/v1/accounts/{account}/analytics",
            params={"from": yesterday, "to": today},
            headers=ada.auth,
        )
    ).json()
    assert [d["day"] for d in a["days"]] == [yesterday, today]
    assert a["days"][0] == {
        "day": yesterday,
        "money_in": 0,
        "money_out": 0,
        "count": 0,
        "closing_balance": 0,
    }
    assert a["days"][1] == {
        "day": today,
        "money_in": 100_00,
        "money_out": 50_00,
        "count": 4,
        "closing_balance": 50_00,
    }
    assert (a["total_in"], a["total_out"], a["count"], a["currency"]) == (100_00, 50_00, 4, "EUR")
    default = (await http.get(f"/api/v1/accounts/{account}/analytics", headers=ada.auth)).json()
    assert len(default["days"]) == 30 and default["days"][-1]["day"] == today


async def test_another_customers_history_does_not_exist_and_bad_input_is_a_400(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, account = await funded_customer(http)
    mallory = await sign_up(http, "Mallory Mole")
    for path in ("balance", "transactions", "analytics"):
        r = await http.get(f"/api/v1/accounts/{account}/{path}", headers=mallory.auth)
        assert r.status_code == 404, (path, r.text)
        r = await http.get(f"/api/v1/accounts/{account}/{path}")
        assert r.status_code == 401, (path, r.text)

    base = f"/api/v1/accounts/{account}"
    bad: list[tuple[str, dict[str, str | int], str]] = [
        ("/transactions", {"limit": 0}, "invalid_limit"),
        ("/transactions", {"limit": 1000}, "invalid_limit"),
        ("/transactions", {"cursor": "not-a-cursor"}, "invalid_cursor"),
        ("/transactions", {"kind": "gift"}, "invalid_kind"),
        ("/transactions", {"from": "yesterday"}, "invalid_date"),
        ("/transactions", {"from": "2026-03-02", "to": "2026-03-01"}, "invalid_date_range"),
        (
            "/transactions",
            {"from": "2026-03-01T10:00Z", "to": "2026-03-01T09:00Z"},
            "invalid_date_range",
        ),
        ("/analytics", {"from": "2026-02-30"}, "invalid_date"),
        ("/analytics", {"from": "2026-03-02", "to": "2026-03-01"}, "invalid_date_range"),
        ("/analytics", {"from": "2020-01-01", "to": "2026-01-01"}, "invalid_date_range"),
        # Days at the ends of the calendar were a 500 (the day after, the 29 days before).
        ("/analytics", {"from": "9999-12-31", "to": "9999-12-31"}, "invalid_date"),
        ("/analytics", {"from": "0001-01-01", "to": "0001-01-02"}, "invalid_date"),
        ("/analytics", {"to": "0001-01-01"}, "invalid_date"),
        ("/balance", {"min_version": -1}, "invalid_min_version"),
        ("", {"min_version": -1}, "invalid_min_version"),
        ("/balance", {"min_version": "new"}, "invalid_request"),
    ]
    for path, params, code in bad:
        r = await http.get(base + path, params=params, headers=ada.auth)
        assert r.status_code == 400, (path, params, r.text)
        assert r.json()["code"] == code, (path, params, r.text)

    # A cursor of one account is refused on another.
    other = (await ada.open_account(name="Other"))["id"]
    for i in range(3):
        assert (await ada.deposit(account, 1_00 + i)).status_code == 201
    await wait_projected(db, account, 4)
    page = (await http.get(base + "/transactions", params={"limit": 1}, headers=ada.auth)).json()
    assert page["next_cursor"]
    r = await http.get(
        f"/api/v1/accounts/{other}/transactions",
        params={"cursor": page["next_cursor"]},
        headers=ada.auth,
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"

    # The same day as from and to is that whole day (to is exclusive, a date its whole day).
    newest = (await http.get(base + "/transactions", headers=ada.auth)).json()["items"][0]
    day = newest["occurred_at"][:10]
    r = await http.get(base + "/transactions", params={"from": day, "to": day}, headers=ada.auth)
    assert r.status_code == 200 and newest in r.json()["items"], r.text

    # Bounds at the ends of the calendar, or beyond them in another zone, were a 500;
    # before the bank and after year 9998 there is nothing, so such a bound is the edge.
    everything = (await http.get(base + "/transactions", headers=ada.auth)).json()["items"]
    for params, want in [
        ({"from": "0001-01-01", "to": "9999-12-31"}, everything),
        ({"from": "0001-01-01T00:00:00+05:00"}, everything),
        ({"to": "9999-12-31T23:59:59-05:00"}, everything),
        ({"from": "0001-01-01T00:00:00Z", "to": "0001-01-01T01:00:00Z"}, []),
        ({"to": "0001-01-01T00:00:00+05:00"}, []),
        ({"from": "9999-12-31T23:59:59-05:00"}, []),
        ({"from": "9999-12-31"}, []),
    ]:
        r = await http.get(base + "/transactions", params=params, headers=ada.auth)
        assert r.status_code == 200 and r.json()["items"] == want, (params, r.text)


async def test_one_transaction_by_its_id_as_soon_as_it_is_answered_with_the_other_accounts_number(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, account = await funded_customer(http)
    adas_number = (await ada.account(account)).json()["account_number"]
    bob = await sign_up(http, "Bob Payee")
    bobs = await bob.open_account()
    deposited = await ada.deposit(account, 50_00, description="salary")
    assert deposited.status_code == 201, deposited.text

    def url(acc: str, transaction: object) -> str:
        return f"/api/v1/accounts/{acc}/transactions/{transaction}"

    projections.stop()  # what the read model does not have yet comes from the event store
    try:
        sent = await ada.transfer(account, bobs["id"], 12_34, description="Lunch")
        assert sent.status_code == 201, sent.text
        transfer_id = sent.json()["transfer_id"]
        out = await http.get(url(account, transfer_id), headers=ada.auth)
        incoming = await http.get(url(bobs["id"], transfer_id), headers=bob.auth)
        in_view = await db.fetchval(
            "SELECT count(*) FROM transaction_view WHERE transaction_id = $1",
            uuid.UUID(transfer_id),
        )
    finally:
        projections.restart()
    assert in_view == 0, "the read model was not stopped"
    assert out.status_code == 200, out.text
    assert {k: out.json()[k] for k in ("transaction_id", "kind", "amount", "description")} == {
        "transaction_id": transfer_id,
        "kind": "transfer_out",
        "amount": {"amount": 12_34, "currency": "EUR"},
        "description": "Lunch",
    }
    assert out.json()["version"] == sent.json()["version"]
    assert out.json()["balance_after"]["amount"] == 50_00 - 12_34
    assert out.json()["counterparty_account_id"] == bobs["id"]
    assert out.json()["counterparty_account_number"] == bobs["account_number"]
    assert incoming.status_code == 200, incoming.text
    assert incoming.json()["kind"] == "transfer_in"
    assert incoming.json()["counterparty_account_number"] == adas_number

    await wait_projected(db, account, sent.json()["version"])
    projected = await http.get(url(account, transfer_id), headers=ada.auth)
    assert projected.json() == out.json()  # the read model says the same as the store did
    history = await http.get(f"/api/v1/accounts/{account}/transactions", headers=ada.auth)
    assert [t["counterparty_account_number"] for t in history.json()["items"]] == [
        bobs["account_number"],
        None,  # a deposit has no other account
    ]
    deposit = await http.get(url(account, deposited.json()["transaction_id"]), headers=ada.auth)
    assert (deposit.json()["kind"], deposit.json()["description"]) == ("deposit", "salary")
    by_number = await http.get(url(adas_number.replace(" ", ""), transfer_id), headers=ada.auth)
    assert by_number.json() == out.json()

    not_hers = await http.get(url(bobs["id"], transfer_id), headers=ada.auth)
    assert (not_hers.status_code, not_hers.json()["code"]) == (404, "account_not_found")
    unknown = await http.get(url(account, uuid.uuid4()), headers=ada.auth)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "transaction_not_found")
    other_side = await http.get(
        url(bobs["id"], deposited.json()["transaction_id"]), headers=bob.auth
    )
    assert (other_side.status_code, other_side.json()["code"]) == (404, "transaction_not_found")
    bad = await http.get(url(account, "lunch"), headers=ada.auth)
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_id")


async def test_history_searched_by_a_word_of_the_description(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, account = await funded_customer(http)
    words = ["Rent December", "rent January", "Groceries", "100% juice", "snake_case", "Ünïcode"]
    for word in words:
        r = await ada.deposit(account, 1_00, description=word)
        assert r.status_code == 201, r.text
    await wait_projected(db, account, r.json()["version"])
    url = f"/api/v1/accounts/{account}/transactions"

    async def found(**params: str) -> list[str]:
        r = await http.get(url, params=params, headers=ada.auth)
        assert r.status_code == 200, r.text
        return [t["description"] for t in r.json()["items"]]

    assert await found(q="RENT") == ["rent January", "Rent December"]  # any case, newest first
    assert await found(q=" rent ") == ["rent January", "Rent December"]  # trimmed
    assert await found(q="%") == ["100% juice"]  # taken literally, not as a wildcard
    assert await found(q="_") == ["snake_case"]
    assert await found(q="ünï") == ["Ünïcode"]
    assert await found(q="rent", kind="withdrawal") == []  # with the other filters
    assert await found(q="nothing like it") == []
    assert len(await found(q="")) == len(words)  # no text: everything
    page = (await http.get(url, params={"q": "rent", "limit": 1}, headers=ada.auth)).json()
    assert [t["description"] for t in page["items"]] == ["rent January"]
    rest = await http.get(
        url, params={"q": "rent", "cursor": page["next_cursor"]}, headers=ada.auth
    )
    assert [t["description"] for t in rest.json()["items"]] == ["Rent December"]

    too_long = await http.get(url, params={"q": "x" * 141}, headers=ada.auth)
    assert too_long.status_code == 400, too_long.text
    assert too_long.json()["code"] == "invalid_search"
    assert "140" in too_long.json()["detail"]
    gql = await http.post(
        "/graphql",
        json={
            "query": 'query($id: UUID!) { transactions(accountId: $id, search: "RENT")'
            " { edges { node { description } } } }",
            "variables": {"id": account},
        },
        headers=ada.auth,
    )
    edges = gql.json()["data"]["transactions"]["edges"]
    assert [e["node"]["description"] for e in edges] == ["rent January", "Rent December"]


async def test_recent_activity_is_the_newest_postings_over_all_of_a_customers_accounts(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    """Six accounts, the money on the last ones: a home screen's recent activity is one
    request and misses none of them (the app asked the first four accounts only)."""
    ada = await sign_up(http, "Ada Recent")
    accounts = [(await ada.open_account(name=f"Pot {i}"))["id"] for i in range(6)]
    mallory = await sign_up(http, "Mallory Recent")
    theirs = (await mallory.open_account())["id"]
    assert (await mallory.deposit(theirs, 9_99)).status_code == 201
    assert (await ada.deposit(accounts[0], 1_00)).status_code == 201
    assert (await ada.deposit(accounts[5], 50_00, description="salary")).status_code == 201
    assert (await ada.transfer(accounts[5], accounts[4], 20_00)).status_code == 201
    # first from the read model alone: every account projected (each is on its own)
    for account, version in ((accounts[0], 2), (accounts[4], 2), (accounts[5], 3), (theirs, 2)):
        await wait_projected(db, account, version)

    r = await http.get("/api/v1/transactions", headers=ada.auth)
    assert r.status_code == 200, r.text
    got = [(t["account_id"], t["kind"], t["amount"]["amount"]) for t in r.json()["items"]]
    # newest first; a transfer's two postings share their instant, so either comes first
    assert set(got[:2]) == {
        (accounts[5], "transfer_out", 20_00),
        (accounts[4], "transfer_in", 20_00),
    }
    assert got[2:] == [(accounts[5], "deposit", 50_00), (accounts[0], "deposit", 1_00)], got
    moved_in = r.json()["items"][[k for _, k, _ in got].index("transfer_in")]
    assert moved_in["counterparty_account_number"]  # the other account, by its number too
    # limit, newest first
    two = (await http.get("/api/v1/transactions", params={"limit": 2}, headers=ada.auth)).json()
    assert [t["kind"] for t in two["items"]] == [k for _, k, _ in got[:2]]
    assert "next_cursor" not in two
    # someone else's money is not in it; no accounts, an empty list
    assert [
        t["amount"]["amount"]
        for t in (await http.get("/api/v1/transactions", headers=mallory.auth)).json()["items"]
    ] == [9_99]
    newcomer = await sign_up(http, "Nell Nobody")
    assert (await http.get("/api/v1/transactions", headers=newcomer.auth)).json() == {"items": []}
    # A payment the read model has not applied yet is there as soon as it was answered
    # (from the event store), as the balance beside it is; then the read model agrees.
    projections.stop()
    try:
        sent = await ada.transfer(accounts[4], accounts[0], 5_00, description="Back")
        assert sent.status_code == 201, sent.text
        early = (await http.get("/api/v1/transactions", headers=ada.auth)).json()["items"]
        in_view = await db.fetchval(
            "SELECT count(*) FROM transaction_view WHERE transaction_id = $1",
            uuid.UUID(sent.json()["transfer_id"]),
        )
    finally:
        projections.restart()
    assert in_view == 0, "the read model was not stopped"
    assert {(t["account_id"], t["kind"], t["description"]) for t in early[:2]} == {
        (accounts[4], "transfer_out", "Back"),
        (accounts[0], "transfer_in", "Back"),
    }, early
    assert early[2:] == r.json()["items"], early  # what came before follows
    await wait_projected(db, accounts[0], 3)
    await wait_projected(db, accounts[4], 3)
    late = (await http.get("/api/v1/transactions", headers=ada.auth)).json()["items"]
    assert late == early

    # bad input
    for limit in (0, 201, "ten"):
        r = await http.get("/api/v1/transactions", params={"limit": limit}, headers=ada.auth)
        assert r.status_code == 400, (limit, r.text)
    assert (await http.get("/api/v1/transactions")).status_code == 401
