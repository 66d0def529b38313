"""A banking day under concurrency (issue #17's held-out story): customers pay each
other, withdraw, place card holds and pending transfers, post them for less or void
them, every request sent twice at once under its key, while the scheduler pays
standing orders and expires holds on its clock (run twice: a re-run changes nothing).

Then, from the event store alone: money is conserved (deposits - withdrawals = the sum
of balances; every transfer's two legs once each), nothing is doubled (one posting per
key, one release per hold, one payment per standing-order occurrence), the held amount
in the read model is what the fold says, and check-consistency finds nothing."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.integration.test_holds import (
    place,
    projected,
    projections_command,
    release,
    until,
)
from tests.support.customers import Customer, sign_up
from tests.support.scheduler import Scheduler

START = 50_000
PEOPLE = 4
STEPS = 12


async def twice(send: Any) -> httpx.Response:
    """The same request (same key) sent twice at once, as a client retrying a timeout
    would: both answers must be the same outcome."""
    first, second = await asyncio.gather(send(), send())
    if first.status_code < 500 and second.status_code < 500:
        assert first.status_code == second.status_code or 409 in (
            first.status_code,
            second.status_code,
        ), (first.text, second.text)
    assert 500 not in (first.status_code, second.status_code), (first.text, second.text)
    return first if first.status_code != 409 else second


async def a_customers_day(
    c: Customer, own: str, others: list[str], rng: random.Random, holds: list[str]
) -> None:
    for _ in range(STEPS):
        key, amount = str(uuid.uuid4()), rng.randint(1, 2_000)
        choice = rng.random()
        if choice < 0.3:
            to = rng.choice(others)
            await twice(partial(c.transfer, own, to, amount, key=key))
        elif choice < 0.4:
            await twice(partial(c.withdraw, own, amount, key=key))
        elif choice < 0.7:
            extra = {"to_account": rng.choice(others)} if rng.random() < 0.5 else {}
            r = await twice(partial(place, c, own, amount, key, **extra))
            if r.status_code == 201:
                holds.append(r.json()["hold_id"])
        elif holds:
            hold = holds.pop(rng.randrange(len(holds)))
            if rng.random() < 0.6:
                part = {"amount": rng.randint(1, 200)}
                await twice(partial(release, c, own, hold, "post", key, **part))
            else:
                await twice(partial(release, c, own, hold, "void", key))


async def standing_order(c: Customer, own: str, to: str, today: str) -> None:
    body = {
        "from_account_id": own,
        "to_account_id": to,
        "amount": 700,
        "frequency": "weekly",
        "start_date": today,
        "count": 2,
    }
    headers = {**c.auth, "Idempotency-Key": str(uuid.uuid4())}
    r = await c.http.post("/api/v1/standing-orders", json=body, headers=headers)
    assert r.status_code == 201, r.text


async def test_a_day_of_payments_holds_and_standing_orders_conserves_money(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    rng = random.Random(17)
    people = [await sign_up(http, f"Day Customer {i}") for i in range(PEOPLE)]
    accounts = [(await c.open_account())["id"] for c in people]
    for c, a in zip(people, accounts, strict=True):
        assert (await c.deposit(a, START)).status_code == 201
    today = datetime.now(UTC).date().isoformat()
    for i, (c, a) in enumerate(zip(people, accounts, strict=True)):
        await standing_order(c, a, accounts[(i + 1) % PEOPLE], today)

    # Eight days on: both weekly occurrences are due, every pending hold has expired.
    scheduler = Scheduler(stack, tmp_path / "now")
    later = datetime.now(UTC) + timedelta(days=8)
    pending: list[list[str]] = [[] for _ in people]
    days = [
        a_customers_day(c, a, [x for x in accounts if x != a], random.Random(rng.random()), h)
        for c, a, h in zip(people, accounts, pending, strict=True)
    ]
    await asyncio.gather(*days, asyncio.to_thread(scheduler.once_at, later))
    await _projected(db, accounts)  # the sweep finds due holds in the read model
    scheduler.once_at(later)
    scheduler.once_at(later)  # a re-run (a restarted scheduler) pays and expires nothing new
    await _projected(db, accounts)

    ids = [uuid.UUID(a) for a in accounts]
    await _money_is_conserved(db, ids)
    await _nothing_is_doubled(db, ids)
    await _held_is_the_fold(db, ids)
    check = projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr


async def _projected(db: asyncpg.Pool, accounts: list[str]) -> None:
    for a in accounts:
        await until(lambda a=a: projected(db, a), f"account {a} in the read model")


async def _money_is_conserved(db: asyncpg.Pool, ids: list[uuid.UUID]) -> None:
    rows = await db.fetch(
        "SELECT event_type, sum((payload->>'amount')::bigint) AS total, count(*) AS n"
        " FROM events WHERE stream_id = ANY($1) GROUP BY event_type",
        ids,
    )
    totals = {r["event_type"]: r["total"] for r in rows}
    balances = await db.fetch(
        "SELECT DISTINCT ON (stream_id) (payload->>'balance_after')::bigint AS balance"
        " FROM events WHERE stream_id = ANY($1) AND payload->>'balance_after' IS NOT NULL"
        " ORDER BY stream_id, version DESC",
        ids,
    )
    money_in = totals["MoneyDeposited"]
    money_out = totals.get("MoneyWithdrawn") or 0
    assert sum(r["balance"] for r in balances) == money_in - money_out
    assert totals.get("MoneyTransferredOut") == totals.get("MoneyTransferredIn")
    assert money_in == START * PEOPLE  # no money was made on the way
    reasons = await db.fetch(
        "SELECT payload->>'reason' AS reason, count(*) AS n FROM events"
        " WHERE event_type = 'HoldReleased' AND stream_id = ANY($1) GROUP BY 1",
        ids,
    )
    # The day did what it says: holds were posted, voided and expired, money moved.
    assert {r["reason"] for r in reasons} == {"posted", "voided", "expired"}, reasons
    assert totals.get("MoneyTransferredOut") and totals.get("MoneyWithdrawn")


async def _nothing_is_doubled(db: asyncpg.Pool, ids: list[uuid.UUID]) -> None:
    doubled_keys = await db.fetch(
        "SELECT stream_id, metadata->>'idempotency_key' AS key, event_type, count(*)"
        " FROM events WHERE stream_id = ANY($1) AND metadata->>'idempotency_key' IS NOT NULL"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1",
        ids,
    )
    assert doubled_keys == []
    legs = await db.fetch(
        "SELECT payload->>'transfer_id' AS t, count(*) FROM events"
        " WHERE event_type IN ('MoneyTransferredOut', 'MoneyTransferredIn')"
        " AND stream_id = ANY($1) GROUP BY 1 HAVING count(*) <> 2",
        ids,
    )
    assert legs == []  # every transfer (posted holds and standing orders too): two legs
    released = await db.fetch(
        "SELECT payload->>'hold_id' AS h, count(*) FROM events"
        " WHERE event_type = 'HoldReleased' AND stream_id = ANY($1)"
        " GROUP BY 1 HAVING count(*) > 1",
        ids,
    )
    assert released == []
    paid = await db.fetch(
        "SELECT o.id, count(x.*) AS n FROM standing_orders o"
        " LEFT JOIN standing_order_occurrences x ON x.order_id = o.id"
        " WHERE o.from_account_id = ANY($1) GROUP BY o.id",
        ids,
    )
    assert [r["n"] for r in paid] == [2] * len(ids)  # both due dates, once each


async def _held_is_the_fold(db: asyncpg.Pool, ids: list[uuid.UUID]) -> None:
    pending = await db.fetch(
        "SELECT h.stream_id, coalesce(sum((h.payload->>'amount')::bigint), 0) AS held"
        " FROM events h WHERE h.event_type = 'FundsHeld' AND h.stream_id = ANY($1)"
        " AND NOT EXISTS (SELECT 1 FROM events r WHERE r.stream_id = h.stream_id"
        " AND r.event_type = 'HoldReleased' AND r.payload->>'hold_id' = h.payload->>'hold_id')"
        " GROUP BY h.stream_id",
        ids,
    )
    folded = {r["stream_id"]: r["held"] for r in pending}
    assert sum(folded.values()) == 0  # eight days on, every hold was posted, voided or expired
    views = await db.fetch(
        "SELECT account_id, held FROM account_view WHERE account_id = ANY($1)", ids
    )
    assert {r["account_id"]: r["held"] for r in views} == {i: folded.get(i, 0) for i in ids}
