"""Holds (issue #17 item 2) against the real stack: a card payment holds money (the
available balance drops, the ledger balance does not), is posted for less, voided, or
expires by itself when the scheduler's controllable clock passes its timeout - once,
however often the scheduler runs - and the read models stay equal to the fold."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import connect

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.integration.test_live import hello, settle, ws_url
from tests.integration.test_live import until as pushed
from tests.integration.test_notifications import wait_inbox
from tests.support.customers import Customer, sign_up
from tests.support.scheduler import Scheduler
from tests.support.staff import staff


def projections_command(stack: EmbeddedStack, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.projections", command],
        env=stack.process_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (answer := await check()):
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)
    return answer


def amount(body: dict[str, Any], field: str) -> int:
    return int(body[field]["amount"])


async def place(
    c: Customer, account: str, value: int, key: str | None = None, **extra: Any
) -> httpx.Response:
    return await c.http.post(
        f"/api/v1/accounts/{account}/holds",
        json={"amount": value, **extra},
        headers={**c.auth, "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def release(
    c: Customer, account: str, hold: str, how: str, key: str | None = None, **body: Any
) -> httpx.Response:
    return await c.http.post(
        f"/api/v1/accounts/{account}/holds/{hold}/{how}",
        json=body or None,
        headers={**c.auth, "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def customer_with(http: httpx.AsyncClient, balance: int, name: str = "Ada Card") -> Any:
    c = await sign_up(http, name)
    account = (await c.open_account())["id"]
    if balance:
        assert (await c.deposit(account, balance)).status_code == 201
    return c, account


async def balances(c: Customer, account: str) -> tuple[int, int]:
    r = await c.http.get(f"/api/v1/accounts/{account}/balance", headers=c.auth)
    assert r.status_code == 200, r.text
    return amount(r.json(), "balance"), amount(r.json(), "available_balance")


async def projected(db: asyncpg.Pool, account: str) -> bool:
    return bool(
        await db.fetchval(
            "SELECT v.version = (SELECT max(version) FROM events WHERE stream_id = $1)"
            " FROM account_view v WHERE v.account_id = $1",
            uuid.UUID(account),
        )
    )


async def test_a_card_hold_is_posted_for_less_and_only_once(
    http: httpx.AsyncClient, cdc: ManagedProcess, projections: ManagedProcess, db: asyncpg.Pool
) -> None:
    ada, account = await customer_with(http, 10_000)
    r = await place(ada, account, 3_000, description="Hotel deposit")
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["status"] == "pending" and held["account_id"] == account
    assert (amount(held, "amount"), amount(held, "balance")) == (3_000, 10_000)
    assert amount(held, "available_balance") == 7_000
    assert await balances(ada, account) == (10_000, 7_000)
    got = (await ada.account(account)).json()
    assert (amount(got, "balance"), amount(got, "available_balance")) == (10_000, 7_000)
    listed = (await ada.http.get(f"/api/v1/accounts/{account}/holds", headers=ada.auth)).json()
    assert [h["hold_id"] for h in listed["items"]] == [held["hold_id"]]

    over = await ada.withdraw(account, 7_001)
    assert over.status_code == 422 and over.json()["code"] == "insufficient_funds", over.text
    more = await release(ada, account, held["hold_id"], "post", amount=3_001)
    assert more.status_code == 422 and more.json()["code"] == "post_exceeds_hold", more.text

    posted = await release(ada, account, held["hold_id"], "post", amount=2_200)
    assert posted.status_code == 200, posted.text
    body = posted.json()
    assert body["status"] == "posted" and amount(body, "posted_amount") == 2_200
    assert (amount(body, "balance"), amount(body, "available_balance")) == (7_800, 7_800)
    assert await balances(ada, account) == (7_800, 7_800)

    await until(lambda: projected(db, account), "the posting in the read model")
    history = await ada.http.get(f"/api/v1/accounts/{account}/transactions", headers=ada.auth)
    items = history.json()["items"]
    assert [(t["kind"], t["amount"]["amount"]) for t in items] == [
        ("withdrawal", 2_200),
        ("deposit", 10_000),
    ]
    assert items[0]["transaction_id"] == held["hold_id"]
    for how in ("post", "void"):
        again = await release(ada, account, held["hold_id"], how)
        assert again.status_code == 409 and again.json()["code"] == "hold_not_pending", again.text
    listed = (await ada.http.get(f"/api/v1/accounts/{account}/holds", headers=ada.auth)).json()
    assert listed["items"] == []


async def test_a_pending_transfer_replays_voids_and_posts_to_the_destination(
    http: httpx.AsyncClient, cdc: ManagedProcess, projections: ManagedProcess, db: asyncpg.Pool
) -> None:
    ada, source = await customer_with(http, 5_000)
    bob, target = await customer_with(http, 0, "Bob Payee")
    key = str(uuid.uuid4())
    first = await place(ada, source, 1_500, key=key, to_account=target, description="Rent")
    assert first.status_code == 201, first.text
    again = await place(ada, source, 1_500, key=key, to_account=target, description="Rent")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json() and first.json()["to_account_id"] == target
    assert await balances(ada, source) == (5_000, 3_500)

    voided = await release(ada, source, first.json()["hold_id"], "void")
    assert voided.status_code == 200 and voided.json()["status"] == "voided", voided.text
    assert await balances(ada, source) == (5_000, 5_000)
    assert await bob.balance(target) == 0

    second = (await place(ada, source, 2_000, to_account=target)).json()
    posted = await release(ada, source, second["hold_id"], "post")  # no body: in full
    assert posted.status_code == 200 and amount(posted.json(), "posted_amount") == 2_000
    assert await balances(ada, source) == (3_000, 3_000)
    assert await bob.balance(target) == 2_000
    await until(lambda: projected(db, target), "the destination in the read model")
    incoming = await bob.http.get(f"/api/v1/accounts/{target}/transactions", headers=bob.auth)
    assert [t["transaction_id"] for t in incoming.json()["items"]] == [second["hold_id"]]


async def test_who_may_hold_and_what_is_refused(
    http: httpx.AsyncClient, stack: EmbeddedStack
) -> None:
    ada, account = await customer_with(http, 1_000)
    eve = await sign_up(http, "Eve Other")
    assert (await place(eve, account, 100)).status_code == 404
    teller = await staff(http, stack, "teller", "Tom Teller")
    by_teller = await place(teller, account, 100)
    assert by_teller.status_code == 201, by_teller.text
    admin = await staff(http, stack, "admin", "Ann Admin")
    assert (await place(admin, account, 100)).status_code == 403
    too_long = await place(ada, account, 100, expires_in_seconds=365 * 24 * 3600)
    assert too_long.status_code == 422 and too_long.json()["code"] == "invalid_hold_timeout"
    assert (await place(ada, account, 901)).json()["code"] == "insufficient_funds"
    no_key = await ada.http.post(
        f"/api/v1/accounts/{account}/holds", json={"amount": 1}, headers=ada.auth
    )
    assert no_key.status_code == 400
    unknown = await release(ada, account, str(uuid.uuid4()), "post")
    assert unknown.status_code == 409 and unknown.json()["code"] == "hold_not_pending"
    close = await ada.http.post(f"/api/v1/accounts/{account}/close", headers=ada.auth)
    assert close.status_code == 422 and close.json()["code"] == "pending_holds", close.text
    assert await balances(ada, account) == (1_000, 900)


async def test_holds_expire_by_themselves_once_on_the_schedulers_clock(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    ada, account = await customer_with(http, 10_000)
    hold = (await place(ada, account, 4_000, expires_in_seconds=600)).json()
    short = (await place(ada, account, 1_000, expires_in_seconds=1)).json()
    assert await balances(ada, account) == (10_000, 5_000)
    await until(lambda: projected(db, account), "the holds in the read model")

    # After its timeout a hold can no longer be posted, even before the sweep.
    short_end = datetime.fromisoformat(short["expires_at"])
    await until(
        lambda: asyncio.sleep(0, datetime.now(UTC) > short_end + timedelta(milliseconds=50)),
        "the short hold's timeout",
    )
    late_key = str(uuid.uuid4())
    late = await release(ada, account, short["hold_id"], "post", key=late_key)
    assert late.status_code == 409 and late.json()["code"] == "hold_expired", late.text

    sched = Scheduler(stack, tmp_path / "now")
    sched.once_at(datetime.now(UTC) + timedelta(seconds=60))  # the 600 s hold is not due
    assert await balances(ada, account) == (10_000, 6_000)
    expires_at = datetime.fromisoformat(hold["expires_at"])
    for _ in range(3):  # restarts and re-runs: expired once
        sched.once_at(expires_at + timedelta(seconds=1))
    assert await balances(ada, account) == (10_000, 10_000)
    released = await db.fetch(
        "SELECT payload->>'hold_id' AS hold, payload->>'reason' AS reason FROM events"
        " WHERE stream_id = $1 AND event_type = 'HoldReleased' ORDER BY version",
        uuid.UUID(account),
    )
    assert [(r["hold"], r["reason"]) for r in released] == [
        (short["hold_id"], "expired"),
        (hold["hold_id"], "expired"),
    ]
    after = await release(ada, account, hold["hold_id"], "post")
    assert after.status_code == 409 and after.json()["code"] == "hold_not_pending", after.text
    replay = await release(ada, account, short["hold_id"], "post", key=late_key)
    assert replay.json()["code"] == "hold_expired"  # the first answer to that key
    audited = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'expire_hold' AND outcome = 'accepted'"
        " AND account_id = $1",
        uuid.UUID(account),
    )
    assert audited == 2


async def test_a_pending_transfer_into_an_account_that_closed_is_voided_by_the_scheduler(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    """Its post is refused for good once the destination is closed; the payer's amount
    stayed held until the payer voided it or it expired (7 days by default)."""
    ada, account = await customer_with(http, 10_000)
    bob, closing = await customer_with(http, 0, "Bob Closing")
    cleo, staying = await customer_with(http, 0, "Cleo Staying")
    into_closed = (await place(ada, account, 1_500, to_account=closing)).json()
    into_open = (await place(ada, account, 2_000, to_account=staying)).json()
    card = (await place(ada, account, 500)).json()
    assert await balances(ada, account) == (10_000, 6_000)
    closed = await bob.http.post(f"/api/v1/accounts/{closing}/close", headers=bob.auth)
    assert closed.status_code == 200, closed.text
    refused = await release(ada, account, into_closed["hold_id"], "post")
    assert (refused.status_code, refused.json()["code"]) == (422, "account_closed"), refused.text
    await until(lambda: projected(db, closing), "the closing in the read model")
    await until(lambda: projected(db, account), "the holds in the read model")

    sched = Scheduler(stack, tmp_path / "now")
    for _ in range(2):  # a re-run voids nothing more
        sched.once_at(datetime.now(UTC))
    assert await balances(ada, account) == (10_000, 7_500)
    released = await db.fetch(
        "SELECT payload->>'hold_id' AS hold, payload->>'reason' AS reason FROM events"
        " WHERE stream_id = $1 AND event_type = 'HoldReleased'",
        uuid.UUID(account),
    )
    assert [(r["hold"], r["reason"]) for r in released] == [(into_closed["hold_id"], "voided")]
    audited = await db.fetch(
        "SELECT target_id, details->>'because' AS because FROM audit_log"
        " WHERE action = 'void_hold' AND outcome = 'accepted' AND account_id = $1",
        uuid.UUID(account),
    )
    assert [(a["target_id"], a["because"]) for a in audited] == [
        (into_closed["hold_id"], "destination_closed")
    ]
    told = await wait_inbox(ada, "transfer_cancelled")  # the payer did not do it
    assert [(n["title"], n["account_id"]) for n in told] == [
        ("A pending transfer was cancelled", account)
    ]
    # The other two are still the payer's to post or void.
    posted = await release(ada, account, into_open["hold_id"], "post")
    assert posted.status_code == 200, posted.text
    voided = await release(ada, account, card["hold_id"], "void")
    assert voided.status_code == 200, voided.text
    assert await balances(ada, account) == (8_000, 8_000)
    assert await cleo.balance(staying) == 2_000


async def test_the_read_models_equal_the_fold_after_holds_and_a_rebuild(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
) -> None:
    ada, account = await customer_with(http, 9_000)
    _, target = await customer_with(http, 0, "Bob Payee")
    kept = (await place(ada, account, 1_000)).json()
    posted = (await place(ada, account, 2_000, to_account=target)).json()
    voided = (await place(ada, account, 500)).json()
    assert (await release(ada, account, posted["hold_id"], "post", amount=1_200)).status_code == 200
    assert (await release(ada, account, voided["hold_id"], "void")).status_code == 200
    await until(lambda: projected(db, account), "the account in the read model")
    await until(lambda: projected(db, target), "the destination in the read model")

    async def view() -> tuple[Any, ...]:
        row = await db.fetchrow(
            "SELECT balance, held FROM account_view WHERE account_id = $1", uuid.UUID(account)
        )
        holds = await db.fetch(
            "SELECT hold_id FROM hold_view WHERE account_id = $1", uuid.UUID(account)
        )
        return (row["balance"], row["held"], [str(h["hold_id"]) for h in holds])

    assert await view() == (7_800, 1_000, [kept["hold_id"]])
    check = projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    rebuilt = projections_command(stack, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert await view() == (7_800, 1_000, [kept["hold_id"]])
    check = projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert await balances(ada, account) == (7_800, 6_800)


async def test_a_hold_is_pushed_live_with_the_available_balance(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    ada, account = await customer_with(http, 2_000)
    await until(lambda: projected(db, account), "the deposit in the read model")
    async with connect(ws_url(api_url, ada.token)) as ws:
        await hello(ws)
        caught_up = [m for m in await settle(ws) if m["type"] == "BalanceChanged"]
        assert amount(caught_up[-1], "available_balance") == 2_000
        held = (await place(ada, account, 500)).json()
        msg = await pushed(
            ws, lambda m: m["type"] == "BalanceChanged" and m["version"] >= held["version"]
        )
        assert (amount(msg, "balance"), amount(msg, "available_balance")) == (2_000, 1_500)
        assert msg["transaction"] is None  # a hold is not a posting
        posted = (await release(ada, account, held["hold_id"], "post", amount=200)).json()
        msg = await pushed(
            ws, lambda m: m["type"] == "BalanceChanged" and m["version"] >= posted["version"]
        )
        assert (amount(msg, "balance"), amount(msg, "available_balance")) == (1_800, 1_800)
        assert msg["transaction"]["transaction_id"] == held["hold_id"]


async def test_graphql_shows_the_available_balance(http: httpx.AsyncClient) -> None:
    ada, account = await customer_with(http, 3_000)
    assert (await place(ada, account, 1_000)).status_code == 201
    query = (
        "query($id: UUID!) { balance(accountId: $id) { balance { amount }"
        " availableBalance { amount } } account(id: $id) { availableBalance { amount } } }"
    )
    r = await http.post(
        "/graphql", json={"query": query, "variables": {"id": account}}, headers=ada.auth
    )
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    data = r.json()["data"]
    assert data["balance"]["balance"]["amount"] == 3_000
    assert data["balance"]["availableBalance"]["amount"] == 2_000
    assert data["account"]["availableBalance"]["amount"] == 2_000


async def test_pending_holds_read_the_same_from_the_view_and_from_the_fold(
    http: httpx.AsyncClient, cdc: ManagedProcess, projections: ManagedProcess, db: asyncpg.Pool
) -> None:
    """While the projection is behind, the list is folded from the events; each hold says
    when it was placed either way, the same instant as the read model says afterwards."""
    ada, account = await customer_with(http, 10_000, "Ada Placed")
    url = f"/api/v1/accounts/{account}/holds"

    async def listed() -> list[dict[str, Any]]:
        r = await ada.http.get(url, headers=ada.auth)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    assert (await place(ada, account, 1_000, description="Fuel")).status_code == 201
    await until(lambda: projected(db, account), "the first hold in the read model")
    from_view = await listed()
    projections.kill()  # the read models stop moving: the next list is the fold
    try:
        assert (await place(ada, account, 2_000, description="Hotel")).status_code == 201
        assert not await projected(db, account), "the view should be behind for this test"
        from_fold = await listed()
    finally:
        projections.restart()
    await until(lambda: projected(db, account), "the second hold in the read model")
    from_view_after = await listed()

    assert [h["description"] for h in from_fold] == ["Fuel", "Hotel"]
    assert all(h["placed_at"] for h in from_fold), from_fold
    assert from_fold[0] == from_view[0]
    assert from_fold == from_view_after
