"""Standing orders against the real stack: the scheduler (python -m server.scheduler)
runs on a controllable clock (a file holding today's date) and every occurrence is
paid exactly once - also when the scheduler is SIGKILLed between paying and recording."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from infra.local.stack import EmbeddedStack, ManagedProcess
from runtime.settings import Settings
from server.adapters.migrations import MIGRATIONS_DIR
from server.adapters.postgres.pool import STATEMENT_TIMEOUT_SECONDS
from server.application.idempotency import request_hash
from server.application.standing_order_payments import (
    occurrence_key,
    occurrence_request_hash,
    occurrence_transfer_id,
)
from server.domain import account_number
from shared.api import TransferRequest
from tests.integration.test_notifications import wait_inbox
from tests.support.customers import Customer, sign_up
from tests.support.links import HangingLink, database_url_through, port_of
from tests.support.scheduler import Scheduler

MAX_TRANSACTION = Settings().max_transaction_amount  # the stack's: no override


async def create_order(c: Customer, **body: Any) -> dict[str, Any]:
    r = await c.http.post("/api/v1/standing-orders", json=body, headers=c.auth)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def order_body(source: str, target: str, **changes: Any) -> dict[str, Any]:
    """An order of 0.10 paid once on a Monday to come, with ``changes``."""
    body = {"from_account_id": source, "to_account_id": target, "amount": 10}
    return {**body, "frequency": "once", "start_date": "2027-01-04", **changes}


async def order(c: Customer, order_id: str) -> dict[str, Any]:
    r = await c.http.get(f"/api/v1/standing-orders/{order_id}", headers=c.auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def funded(http: httpx.AsyncClient, amount: int) -> tuple[Customer, str, str]:
    payer, payee = await sign_up(http, "Ada Payer"), await sign_up(http, "Bob Payee")
    source = (await payer.open_account())["id"]
    target = (await payee.open_account())["id"]
    if amount:
        assert (await payer.deposit(source, amount)).status_code == 201
    return payer, source, target


async def transfers_written(db: asyncpg.Pool, order_id: str, dues: list[str]) -> list[int]:
    ids = [occurrence_transfer_id(uuid.UUID(order_id), date.fromisoformat(d)) for d in dues]
    return [await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", i) for i in ids]


async def test_each_occurrence_is_paid_once_as_the_clock_moves(
    http: httpx.AsyncClient, api_url: str, stack: EmbeddedStack, db: asyncpg.Pool, tmp_path: Path
) -> None:
    payer, source, target = await funded(http, 1000)
    o = await create_order(
        payer,
        from_account_id=source,
        to_account_id=target,
        amount=100,
        frequency="monthly",
        start_date="2027-01-31",
        count=4,
    )
    assert o["status"] == "active" and o["next_due"] == "2027-01-31"
    sched = Scheduler(stack, tmp_path / "today")
    sched.set_today(date(2027, 1, 30))
    sched.once()
    assert (await order(payer, o["id"]))["occurrences"] == []

    sched.set_today(date(2027, 2, 28))
    sched.once()
    got = await order(payer, o["id"])
    assert [x["due_date"] for x in got["occurrences"]] == ["2027-01-31", "2027-02-28"]
    assert got["next_due"] == "2027-03-31"

    sched.set_today(date(2027, 6, 1))
    sched.once()
    sched.once()  # nothing left: runs again without paying again
    got = await order(payer, o["id"])
    dues = ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    assert [x["due_date"] for x in got["occurrences"]] == dues
    assert {x["outcome"] for x in got["occurrences"]} == {"paid"}
    assert got["status"] == "finished" and got["next_due"] is None
    assert await transfers_written(db, o["id"], dues) == [1, 1, 1, 1]
    listed = (await http.get("/api/v1/standing-orders", headers=payer.auth)).json()["items"]
    assert [x["id"] for x in listed] == [o["id"]]


async def test_refusals_are_recorded_notified_and_the_order_is_suspended_after_three(
    http: httpx.AsyncClient,
    api_url: str,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    tmp_path: Path,
    cdc: ManagedProcess,
    notifications: ManagedProcess,
) -> None:
    payer, source, target = await funded(http, 0)
    o = await create_order(
        payer,
        from_account_id=source,
        to_account_id=target,
        amount=50,
        frequency="weekly",
        start_date="2027-03-01",
        count=10,
    )
    sched = Scheduler(stack, tmp_path / "today")
    sched.set_today(date(2027, 12, 31))
    sched.once()
    got = await order(payer, o["id"])
    assert [x["outcome"] for x in got["occurrences"]] == ["refused"] * 3
    assert {x["reason_code"] for x in got["occurrences"]} == {"insufficient_funds"}
    assert got["status"] == "suspended" and got["next_due"] is None
    rows = await db.fetch(
        "SELECT outcome, reason_code FROM audit_log"
        " WHERE action = 'standing_order_payment' AND target_id = $1",
        o["id"],
    )
    assert [(r["outcome"], r["reason_code"]) for r in rows] == [
        ("rejected", "insufficient_funds")
    ] * 3
    # The payer is told, once per refused occurrence, with its due date; the third says
    # the order is suspended and how to start it again.
    refused = await wait_inbox(payer, "payment_refused", count=3)
    by_title = {n["title"]: n["body"] for n in refused}
    assert sorted(by_title) == [
        f"A standing order payment due {d} was refused"
        for d in ("1 Mar 2027", "15 Mar 2027", "8 Mar 2027")
    ]
    suspended = [t for t, body in by_title.items() if "is suspended: resume it" in body]
    assert suspended == ["A standing order payment due 15 Mar 2027 was refused"]


async def test_a_suspended_order_resumed_pays_again_from_its_next_date(
    http: httpx.AsyncClient, api_url: str, stack: EmbeddedStack, db: asyncpg.Pool, tmp_path: Path
) -> None:
    """Resume: the order pays again from its first date on or after the bank's today,
    the dates missed while suspended are not paid late, and what cannot be resumed is
    refused with a code and changes nothing."""
    payer, source, target = await funded(http, 0)
    other = await sign_up(http, "Eve Other")
    start = datetime.now(UTC).date() + timedelta(days=14)
    weekly = {"from_account_id": source, "to_account_id": target, "amount": 50}
    weekly |= {"frequency": "weekly", "start_date": start.isoformat()}
    o = await create_order(payer, **weekly, count=10)
    short = await create_order(payer, **weekly, count=3)
    sched = Scheduler(stack, tmp_path / "today")
    sched.set_today(start + timedelta(weeks=2))  # three dates, each refused: no money
    sched.once()
    assert {(await order(payer, x["id"]))["status"] for x in (o, short)} == {"suspended"}
    assert (await order(payer, o["id"]))["payments_left"] is None  # none until resumed

    def resume(order_id: str, who: Customer = payer) -> Any:
        return http.post(f"/api/v1/standing-orders/{order_id}/resume", headers=who.auth)

    r = await resume(o["id"], other)
    assert (r.status_code, r.json()["code"]) == (404, "standing_order_not_found"), r.text
    r = await resume(o["id"])
    assert r.status_code == 200, r.text
    fourth = (start + timedelta(weeks=3)).isoformat()  # the next date from today on
    resumed = r.json()
    assert (resumed["status"], resumed["next_due"], resumed["refusals_in_row"]) == (
        "active",
        fourth,
        0,
    )
    assert resumed["payments_left"] == 7  # of ten dates: three refused
    again = await resume(o["id"])  # a retry answers the order as it is
    assert again.status_code == 200 and again.json() == resumed, again.text

    # Its three dates are gone: nothing is left to resume; the order stays as it was.
    r = await resume(short["id"])
    assert (r.status_code, r.json()["code"]) == (409, "standing_order_ended"), r.text
    assert "no payment left" in r.json()["detail"]
    assert (await order(payer, short["id"]))["status"] == "suspended"

    assert (await payer.deposit(source, 500)).status_code == 201
    sched.set_today(start + timedelta(weeks=3))
    sched.once()
    got = await order(payer, o["id"])
    assert [(x["due_date"], x["outcome"]) for x in got["occurrences"]][3:] == [(fourth, "paid")]
    assert got["next_due"] == (start + timedelta(weeks=4)).isoformat()
    assert got["payments_left"] == 6

    r = await http.post(f"/api/v1/standing-orders/{o['id']}/cancel", headers=payer.auth)
    assert r.status_code == 200, r.text  # leaves nothing due for other tests
    r = await resume(o["id"])
    assert (r.status_code, r.json()["code"]) == (409, "standing_order_ended"), r.text
    assert "is cancelled: it makes no more payments" in r.json()["detail"]
    rows = await db.fetch(
        "SELECT action, target_id, account_id, outcome, reason_code, details->>'next_due'"
        " AS next_due FROM audit_log WHERE target_type = 'standing_order' AND actor_id = $1"
        " AND action IN ('resume_standing_order', 'cancel_standing_order') ORDER BY id",
        uuid.UUID(payer.user_id),
    )
    assert {str(r["account_id"]) for r in rows} == {source}
    assert [
        tuple(r[k] for k in ("action", "outcome", "reason_code", "next_due")) for r in rows
    ] == [
        ("resume_standing_order", "accepted", None, fourth),
        ("resume_standing_order", "replayed", None, None),
        ("resume_standing_order", "rejected", "standing_order_ended", None),
        ("cancel_standing_order", "accepted", None, None),
        ("resume_standing_order", "rejected", "standing_order_ended", None),
    ]
    assert [r["target_id"] for r in rows] == [o["id"], o["id"], short["id"], o["id"], o["id"]]


async def test_an_orders_amount_changes_from_its_next_payment_on(
    http: httpx.AsyncClient, api_url: str, stack: EmbeddedStack, db: asyncpg.Pool, tmp_path: Path
) -> None:
    payer, source, target = await funded(http, 10_000)
    other = await sign_up(http, "Eve Other")
    start = datetime.now(UTC).date() + timedelta(days=10)
    o = await create_order(
        payer,
        **order_body(source, target, frequency="weekly", start_date=start.isoformat(), count=4),
        description="Rent",
    )
    sched = Scheduler(stack, tmp_path / "today")
    sched.once_at(start)  # the first payment: 10
    path = f"/api/v1/standing-orders/{o['id']}"

    async def change(body: dict[str, Any], who: Customer = payer) -> httpx.Response:
        return await http.patch(path, json=body, headers=who.auth)

    r = await change({"amount": 250})
    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["description"]) == (250, "Rent")  # reference kept
    assert (await change({"amount": 250})).json() == r.json()  # the same again: a retry
    r = await change({"amount": 300, "description": "Rent and bills"})
    assert (r.json()["amount"], r.json()["description"]) == (300, "Rent and bills"), r.text
    for body, who, status, code in [
        ({"amount": 0}, payer, 400, "invalid_body"),
        ({}, payer, 400, "invalid_body"),
        ({"amount": 5, "frequency": "once"}, payer, 400, "invalid_body"),
        ({"amount": MAX_TRANSACTION + 1}, payer, 422, "amount_over_limit"),
        ({"amount": 5}, other, 404, "standing_order_not_found"),
    ]:
        r = await change(body, who)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    sched.once_at(start + timedelta(weeks=1))
    got = await order(payer, o["id"])
    assert [x["outcome"] for x in got["occurrences"]] == ["paid", "paid"]
    rows = await db.fetch(
        "SELECT (payload->>'amount')::bigint AS amount FROM events WHERE stream_id = $1::uuid"
        " AND event_type = 'MoneyTransferredOut' ORDER BY version",
        source,
    )
    assert [r["amount"] for r in rows] == [10, 300]  # the first as it was made
    r = await http.post(f"{path}/cancel", headers=payer.auth)
    assert r.status_code == 200, r.text
    rows = await db.fetch(
        "SELECT outcome, reason_code, details FROM audit_log"
        " WHERE action = 'change_standing_order' AND target_id = $1 ORDER BY id",
        o["id"],
    )
    assert [(r["outcome"], r["reason_code"]) for r in rows] == [
        ("accepted", None),
        ("replayed", None),
        ("accepted", None),
        ("rejected", "amount_over_limit"),
        ("rejected", "standing_order_not_found"),  # another customer's try
    ]


async def test_bad_orders_are_refused_and_cancel_stops_payments(
    http: httpx.AsyncClient, api_url: str, stack: EmbeddedStack, tmp_path: Path
) -> None:
    payer, source, target = await funded(http, 500)
    other = await sign_up(http, "Eve Other")
    base = {"to_account_id": target, "amount": 10, "frequency": "monthly"}
    r = await http.post(
        "/api/v1/standing-orders",
        json={**base, "from_account_id": source, "start_date": "2027-01-01"},
        headers=payer.auth,
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_schedule", r.text
    # A start in the past would pay every occurrence due since at once; one account to
    # itself would be refused at every occurrence.
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    # Nor is what every occurrence would be refused for: no such destination, the same
    # account, another currency, more than the bank takes in one payment.
    past = {"from_account_id": source, "start_date": yesterday, "count": 3}
    later = {"from_account_id": source, "start_date": "2027-01-01", "count": 2}
    dollars = (await payer.open_account(currency="USD"))["id"]
    for body, status, code in [
        (past, 422, "invalid_schedule"),
        ({**later, "to_account_id": source}, 422, "same_account"),
        ({**later, "to_account_id": str(uuid.uuid4())}, 404, "account_not_found"),
        ({**later, "to_account_id": dollars}, 422, "currency_mismatch"),
        ({**later, "currency": "GBP"}, 422, "currency_mismatch"),
        ({**later, "amount": MAX_TRANSACTION + 1}, 422, "amount_over_limit"),
    ]:
        r = await http.post("/api/v1/standing-orders", json={**base, **body}, headers=payer.auth)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    listed = await http.get("/api/v1/standing-orders", headers=payer.auth)
    assert listed.json()["items"] == [], listed.text
    r = await http.post(
        "/api/v1/standing-orders",
        json={**base, "from_account_id": source, "start_date": "2027-01-01", "count": 2},
        headers=other.auth,
    )
    assert r.status_code == 404, r.text  # not Eve's account
    o = await create_order(payer, **base, from_account_id=source, start_date="2027-01-01", count=2)
    assert (
        await http.get(f"/api/v1/standing-orders/{o['id']}", headers=other.auth)
    ).status_code == 404
    assert o["payments_left"] == 2
    r = await http.post(f"/api/v1/standing-orders/{o['id']}/cancel", headers=payer.auth)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    assert r.json()["payments_left"] == 0
    sched = Scheduler(stack, tmp_path / "today")
    sched.set_today(date(2027, 6, 1))
    sched.once()
    assert (await order(payer, o["id"]))["occurrences"] == []


async def test_an_order_created_under_a_key_is_created_once(http: httpx.AsyncClient) -> None:
    payer, source, target = await funded(http, 500)
    body = order_body(source, target, frequency="weekly", count=3)
    keyed = {**payer.auth, "Idempotency-Key": str(uuid.uuid4())}

    first = await http.post("/api/v1/standing-orders", json=body, headers=keyed)
    again = await http.post("/api/v1/standing-orders", json=body, headers=keyed)
    other = await http.post("/api/v1/standing-orders", json={**body, "amount": 11}, headers=keyed)

    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    listed = (await http.get("/api/v1/standing-orders", headers=payer.auth)).json()["items"]
    assert [o["id"] for o in listed] == [first.json()["id"]]
    # Without a key each request is a new order, as before.
    unkeyed = await create_order(payer, **body)
    assert unkeyed["id"] != first.json()["id"]
    for made in (first.json()["id"], unkeyed["id"]):  # leave nothing due for other tests
        r = await http.post(f"/api/v1/standing-orders/{made}/cancel", headers=payer.auth)
        assert r.status_code == 200, r.text


async def one_payment_due(http: httpx.AsyncClient) -> tuple[Customer, dict[str, Any], uuid.UUID]:
    """A funded payer's order to pay 70 once on 1 February 2027, and the id the
    occurrence's transfer will have."""
    payer, source, target = await funded(http, 1000)
    o = await create_order(
        payer,
        from_account_id=source,
        to_account_id=target,
        amount=70,
        frequency="once",
        start_date="2027-02-01",
    )
    return payer, o, occurrence_transfer_id(uuid.UUID(o["id"]), date(2027, 2, 1))


async def events_of(db: asyncpg.Pool, transfer_id: uuid.UUID) -> int:
    return int(await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", transfer_id))


async def _wait(cond: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_scheduler_killed_between_paying_and_recording_does_not_pay_twice(
    http: httpx.AsyncClient, api_url: str, stack: EmbeddedStack, db: asyncpg.Pool, tmp_path: Path
) -> None:
    payer, o, transfer_id = await one_payment_due(http)
    sched = Scheduler(stack, tmp_path / "today")
    sched.set_today(date(2027, 2, 1))
    # Hold the occurrences table: the scheduler pays, then blocks before recording.
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("LOCK TABLE standing_order_occurrences IN EXCLUSIVE MODE")
        proc = sched.start()
        try:
            await _wait(lambda: events_of(db, transfer_id))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            await tx.rollback()
    assert (await order(payer, o["id"]))["occurrences"] == []  # paid, not recorded

    async def claimable() -> bool:  # the dead scheduler's transaction has rolled back
        async with db.acquire() as c, c.transaction():
            row = await c.fetchrow(
                "SELECT id FROM standing_orders WHERE id = $1 FOR UPDATE SKIP LOCKED",
                uuid.UUID(o["id"]),
            )
            return row is not None

    await _wait(claimable)
    # Made before migration 0032, the key was bound to the transfer the order asked for;
    # the migration binds it to the occurrence, as keys are bound now.
    due = date(2027, 2, 1)
    legacy = request_hash(
        "transfer",
        TransferRequest(
            from_account_id=uuid.UUID(o["from_account_id"]),
            to_account_id=uuid.UUID(o["to_account_id"]),
            amount=70,
            description="Standing order",
        ),
    )
    key = occurrence_key(uuid.UUID(o["id"]), due)
    stored = "SELECT request_hash FROM idempotency_keys WHERE scope = 'standing_order' AND key = $1"
    assert await db.fetchval(stored, key) == occurrence_request_hash(uuid.UUID(o["id"]), due)
    await db.execute(
        "UPDATE idempotency_keys SET request_hash = $1 WHERE scope = 'standing_order' AND key = $2",
        legacy,
        key,
    )
    await db.execute(
        (MIGRATIONS_DIR / "0032_standing_order_keys_bound_to_the_occurrence.sql").read_text()
    )
    assert await db.fetchval(stored, key) == occurrence_request_hash(uuid.UUID(o["id"]), due)
    # Paid, not recorded, and the order changed meanwhile: the payment stays as it was
    # made (its key is bound to the occurrence, not to what the order asks now).
    change = f"/api/v1/standing-orders/{o['id']}"
    r = await payer.http.patch(change, json={"amount": 80}, headers=payer.auth)
    assert r.status_code == 200 and r.json()["amount"] == 80, r.text
    sched.once()
    got = await order(payer, o["id"])
    assert [(x["outcome"], x["transfer_id"]) for x in got["occurrences"]] == [
        ("paid", str(transfer_id))
    ]
    assert got["status"] == "finished"
    paid = await db.fetchval(
        "SELECT (payload->>'amount')::bigint FROM events"
        " WHERE event_type = 'MoneyTransferredOut' AND payload->>'transfer_id' = $1",
        str(transfer_id),
    )
    assert paid == 70
    r = await payer.http.patch(change, json={"amount": 90}, headers=payer.auth)
    assert (r.status_code, r.json()["code"]) == (409, "standing_order_ended"), r.text
    assert await events_of(db, transfer_id) == 1
    outcomes = await db.fetch(
        "SELECT outcome FROM audit_log WHERE action = 'standing_order_payment'"
        " AND target_id = $1 ORDER BY id",
        o["id"],
    )
    assert [r["outcome"] for r in outcomes] == ["accepted", "replayed"]


async def test_a_scheduler_whose_connections_went_silent_pays_on_new_ones(
    http: httpx.AsyncClient, api_url: str, stack: EmbeddedStack, db: asyncpg.Pool, tmp_path: Path
) -> None:
    """The database went away without closing the scheduler's connections (a failover):
    nothing ever comes back on them. A tick fails after the statement timeout and the
    wait for its cancel's acknowledgement (4.5 s), and a later one pays on a new connection, once
    (the failed tick expired the old ones). Its health says "stalled"
    while the tick hangs past the threshold, and "ok" again once a tick is done."""
    payer, o, transfer_id = await one_payment_due(http)
    link = HangingLink(port_of(stack.database_url))
    env = {
        "BANK_DATABASE_URL": database_url_through(stack.database_url, await link.start()),
        "BANK_PIPELINE_STALL_SECONDS": "1",  # stalled after 1.2 s without a tick done
    }
    sched = Scheduler(stack, tmp_path / "today")
    sched.set_today(date(2027, 1, 1))  # nothing due yet: it ticks on its open connection
    proc = sched.start(env)
    try:
        await asyncio.sleep(2.0)
        assert proc.poll() is None
        assert (await sched.health())[1]["status"] == "ok"
        link.silence_open_connections()
        sched.set_today(date(2027, 2, 1))
        seen: list[tuple[int, str]] = []

        async def stalled() -> bool:
            code, doc = await sched.health()
            seen.append((code, doc["status"]))
            return code == 503

        await _wait(stalled, timeout=STATEMENT_TIMEOUT_SECONDS)
        assert seen[-1] == (503, "stalled"), seen

        async def paid() -> bool:
            assert proc.poll() is None, "the scheduler exited (a failed tick is retried)"
            return bool(await events_of(db, transfer_id))

        await _wait(paid, timeout=4 * STATEMENT_TIMEOUT_SECONDS + 10)

        async def ok_again() -> bool:
            return (await sched.health())[1]["status"] == "ok"

        await _wait(ok_again, timeout=10)
        got: dict[str, Any] = {}
        deadline = time.monotonic() + 10
        while not got.get("occurrences") and time.monotonic() < deadline:
            got = await order(payer, o["id"])
            await asyncio.sleep(0.1)
        assert [(x["outcome"], x["transfer_id"]) for x in got["occurrences"]] == [
            ("paid", str(transfer_id))
        ]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # stuck on a silent connection: no way out
            proc.kill()
            proc.wait(timeout=10)
        link.close()
    assert await events_of(db, transfer_id) == 1


async def test_a_retry_answers_the_order_its_key_made_whatever_changed_since(
    http: httpx.AsyncClient,
) -> None:
    """The checks are made when an order is made: the key's retry answers that order (as
    it is now) even when the destination has closed since; a new key is checked again,
    and refused."""
    payer, source, _ = await funded(http, 500)
    savings = (await payer.open_account(name="Savings"))["id"]
    body = order_body(source, savings)
    keyed = {**payer.auth, "Idempotency-Key": str(uuid.uuid4())}
    first = await http.post("/api/v1/standing-orders", json=body, headers=keyed)
    assert first.status_code == 201, first.text
    closed = await http.post(f"/api/v1/accounts/{savings}/close", headers=payer.auth)
    assert closed.status_code == 200, closed.text

    again = await http.post("/api/v1/standing-orders", json=body, headers=keyed)
    assert again.status_code == 201, again.text
    # The same order, as it is now: closing its destination (its owner's) cancelled it.
    expected = {**first.json(), "status": "cancelled", "next_due": None, "payments_left": 0}
    assert again.json() == expected, again.text
    fresh = {**payer.auth, "Idempotency-Key": str(uuid.uuid4())}
    refused = await http.post("/api/v1/standing-orders", json=body, headers=fresh)
    assert (refused.status_code, refused.json()["code"]) == (422, "account_closed"), refused.text
    r = await http.post(f"/api/v1/standing-orders/{first.json()['id']}/cancel", headers=payer.auth)
    assert r.status_code == 200, r.text  # leave nothing due for other tests


async def test_one_key_sent_several_times_at_once_makes_one_order(
    http: httpx.AsyncClient,
) -> None:
    """The race the key's lookup cannot see: every request finds no order, one insert
    wins, and the others answer the order it made."""
    payer, source, target = await funded(http, 500)
    body = order_body(source, target)
    keyed = {**payer.auth, "Idempotency-Key": str(uuid.uuid4())}
    answers = await asyncio.gather(
        *(http.post("/api/v1/standing-orders", json=body, headers=keyed) for _ in range(6))
    )
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    listed = (await http.get("/api/v1/standing-orders", headers=payer.auth)).json()["items"]
    assert [o["id"] for o in listed] == [answers[0].json()["id"]]
    r = await http.post(f"/api/v1/standing-orders/{listed[0]['id']}/cancel", headers=payer.auth)
    assert r.status_code == 200, r.text  # leave nothing due for other tests


async def test_closing_an_account_ends_the_orders_it_would_pay_from_or_into(
    http: httpx.AsyncClient, stack: EmbeddedStack, db: asyncpg.Pool, tmp_path: Path
) -> None:
    """Its owner's orders from it and into it are cancelled when it closes (audited);
    another customer's order into it is cancelled by its first refused occurrence, not
    refused three times over months before a suspension."""
    cleo, other = await sign_up(http, "Cleo Closer"), await sign_up(http, "Otto Other")
    closing, keeping = (await cleo.open_account())["id"], (await cleo.open_account())["id"]
    elsewhere = (await other.open_account())["id"]
    assert (await cleo.deposit(keeping, 1_000)).status_code == 201
    assert (await other.deposit(elsewhere, 1_000)).status_code == 201
    monthly = {"frequency": "monthly", "start_date": "2027-02-01", "count": 6}
    out = await create_order(cleo, **order_body(closing, elsewhere, **monthly))
    into = await create_order(cleo, **order_body(keeping, closing, **monthly))
    unrelated = await create_order(cleo, **order_body(keeping, elsewhere, **monthly))
    theirs = await create_order(other, **order_body(elsewhere, closing, **monthly))

    close = {**cleo.auth, "Idempotency-Key": str(uuid.uuid4())}
    r = await http.post(f"/api/v1/accounts/{closing}/close", headers=close)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    again = await http.post(f"/api/v1/accounts/{closing}/close", headers=close)
    assert again.headers.get("idempotent-replayed") == "true", again.text  # finds none left
    assert [(await order(cleo, o["id"]))["status"] for o in (out, into, unrelated)] == [
        "cancelled",
        "cancelled",
        "active",
    ]
    assert (await order(other, theirs["id"]))["status"] == "active"  # not Cleo's to end
    rows = await db.fetch(
        "SELECT target_id, outcome, details->>'because' AS because, actor_id FROM audit_log"
        " WHERE action = 'cancel_standing_order' AND target_type = 'standing_order'"
        " AND target_id = ANY($1::text[])",
        [out["id"], into["id"]],
    )
    assert sorted((r["target_id"], r["outcome"], r["because"]) for r in rows) == sorted(
        [(out["id"], "accepted", "account_closed"), (into["id"], "accepted", "account_closed")]
    )
    assert {str(r["actor_id"]) for r in rows} == {cleo.user_id}

    sched = Scheduler(stack, tmp_path / "today")
    sched.set_today(date(2027, 5, 31))  # four due dates have passed
    sched.once()
    got = await order(other, theirs["id"])
    assert [(x["outcome"], x["reason_code"]) for x in got["occurrences"]] == [
        ("refused", "account_closed")
    ]
    assert got["status"] == "cancelled" and got["next_due"] is None
    paid = await order(cleo, unrelated["id"])
    assert [x["outcome"] for x in paid["occurrences"]] == ["paid"] * 4
    assert (await order(cleo, out["id"]))["occurrences"] == []  # cancelled: never tried


async def test_an_order_to_an_account_number_is_the_order_to_its_account(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    payer, source, target = await funded(http, 500)
    compact = await db.fetchval(
        "SELECT account_number FROM account_owners WHERE account_id = $1", uuid.UUID(target)
    )
    bobs = account_number.formatted(compact)
    body = {
        "from_account": source,
        "to_account_number": bobs.lower(),  # as typed: spaces, any case
        "amount": 25,
        "frequency": "monthly",
        "start_date": "2027-01-04",
        "count": 2,
        "description": "rent",
    }
    keyed = {**payer.auth, "Idempotency-Key": str(uuid.uuid4())}
    url = "/api/v1/standing-orders/by-account-number"
    made = await http.post(url, json=body, headers=keyed)
    assert made.status_code == 201, made.text
    order_ = made.json()
    assert (order_["to_account_id"], order_["to_account_number"]) == (target, bobs)
    assert (order_["amount"], order_["frequency"], order_["count"]) == (25, "monthly", 2)
    # The same key through the path by id is the same order.
    by_id = order_body(source, target, amount=25, frequency="monthly", count=2)
    again = await http.post(
        "/api/v1/standing-orders", json={**by_id, "description": "rent"}, headers=keyed
    )
    assert again.status_code == 201 and again.json() == order_
    # And GraphQL's mutation by number, under the same key.
    gql = await http.post(
        "/graphql",
        json={
            "query": """mutation($from: String!, $to: String!, $key: String!) {
              createStandingOrderToAccountNumber(fromAccount: $from, toAccountNumber: $to,
                amount: 25, frequency: MONTHLY, startDate: "2027-01-04", count: 2,
                description: "rent", idempotencyKey: $key) { id toAccountNumber } }""",
            "variables": {"from": source, "to": bobs, "key": keyed["Idempotency-Key"]},
        },
        headers=payer.auth,
    )
    assert gql.json()["data"]["createStandingOrderToAccountNumber"] == {
        "id": order_["id"],
        "toAccountNumber": bobs,
    }, gql.text
    listed = (await http.get("/api/v1/standing-orders", headers=payer.auth)).json()["items"]
    assert [(o["id"], o["to_account_number"]) for o in listed] == [(order_["id"], bobs)]
    assert (await order(payer, order_["id"]))["to_account_number"] == bobs

    # A mistyped number (check digits), a number nobody holds, no number: nothing made.
    wrong = bobs[:-1] + str((int(bobs[-1]) + 1) % 10)
    nobody = account_number.formatted(account_number.from_serial(9_999_999_999))
    for to, status, code in (
        (wrong, 422, "invalid_account_number"),
        (nobody, 404, "account_not_found"),
    ):
        r = await http.post(url, json={**body, "to_account_number": to}, headers=payer.auth)
        assert (r.status_code, r.json()["code"]) == (status, code), (to, r.text)
    r = await http.post(
        url, json={k: v for k, v in body.items() if k != "to_account_number"}, headers=payer.auth
    )
    assert r.status_code == 400 and "to_account_number" in r.json()["detail"]
    # Paying from someone else's account, named by its number: it does not exist for you.
    adas = account_number.formatted(
        await db.fetchval(
            "SELECT account_number FROM account_owners WHERE account_id = $1", uuid.UUID(source)
        )
    )
    theirs = {**body, "from_account": bobs, "to_account_number": adas}
    r = await http.post(url, json=theirs, headers=payer.auth)
    assert (r.status_code, r.json()["code"]) == (404, "account_not_found"), r.text
    listed = (await http.get("/api/v1/standing-orders", headers=payer.auth)).json()["items"]
    assert len(listed) == 1
    assert (
        await db.fetchval(
            "SELECT count(*) FROM standing_orders WHERE from_account_id = $1", uuid.UUID(target)
        )
        == 0
    )
    cancelled = await http.post(
        f"/api/v1/standing-orders/{order_['id']}/cancel", headers=payer.auth
    )
    assert cancelled.status_code == 200 and cancelled.json()["to_account_number"] == bobs
