"""Monthly statements over HTTP (issue #17 item 7): a customer banks across a month
boundary and downloads last month's and this month's statements as CSV and PDF; the
figures reconcile with the ledger (opening + in - out = closing, and closing is the
fold of the event store at the month's end).

Back-dating: the write path stamps every event with the database clock
(``events.recorded_at DEFAULT clock_timestamp()``) and the API cannot be told
otherwise, so the "last month" part is written through the real API and then moved
into the previous month by shifting ``recorded_at`` of those events rows (and the
accounts' ``opened_at``) in PostgreSQL. The shift keeps their order and spacing. The
CDC connector sends an update of an events row to the change topics only (never to
the domain topics), so nothing downstream sees it twice.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pypdf

from infra.local.stack import EmbeddedStack
from server.domain.account import Account
from shared.events import AccountEvent, event_decoder
from tests.support.customers import Customer, sign_up
from tests.support.staff import admin

STATEMENTS = "/api/v1/accounts/{}/statements/{}"


def month_label(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def first_of(at: datetime, months_back: int = 0) -> datetime:
    index = at.year * 12 + at.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


async def statement(
    who: Customer, account: str, month: str, fmt: str | None = None
) -> httpx.Response:
    params = {"format": fmt} if fmt else None
    return await who.http.get(STATEMENTS.format(account, month), params=params, headers=who.auth)


def parse_csv(r: httpx.Response) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"  # one charset, not two
    summary, postings = r.text.split("\r\n\r\n")
    rows = list(csv.reader(io.StringIO(summary)))
    return {row[0]: row[1:] for row in rows[1:]}, list(csv.DictReader(io.StringIO(postings)))


async def fold_at(db: asyncpg.Pool, account: str, end: datetime) -> Account:
    """The account as the event store folds it from every event recorded before ``end``."""
    rows = await db.fetch(
        "SELECT payload::text AS p FROM events WHERE stream_id = $1 AND recorded_at < $2"
        " ORDER BY version",
        uuid.UUID(account),
        end,
    )
    events: list[AccountEvent] = [event_decoder.decode(r["p"]) for r in rows]  # type: ignore[misc]
    return Account.from_events(events)


async def move_into_previous_month(db: asyncpg.Pool, accounts: list[str]) -> datetime:
    """Shift every event of ``accounts`` (and their opening) to the 10th of last month,
    keeping their order and spacing; returns the new time of the first."""
    ids = [uuid.UUID(a) for a in accounts]
    async with db.acquire() as conn, conn.transaction():
        now, first = await conn.fetchrow(
            "SELECT clock_timestamp(), min(recorded_at) FROM events WHERE stream_id = ANY($1)",
            ids,
        )
        target = first_of(now, 1) + timedelta(days=9, hours=12)
        shift = first - target
        await conn.execute(
            "UPDATE events SET recorded_at = recorded_at - $2::interval WHERE stream_id = ANY($1)",
            ids,
            shift,
        )
        await conn.execute(
            "UPDATE account_owners SET opened_at = opened_at - $2::interval"
            " WHERE account_id = ANY($1)",
            ids,
            shift,
        )
    return target


async def hold(who: Customer, account: str, amount: int, description: str) -> str:
    r = await who.http.post(
        f"/api/v1/accounts/{account}/holds",
        json={"amount": amount, "description": description},
        headers={**who.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["hold_id"])


async def hold_action(
    who: Customer, account: str, hold_id: str, action: str, body: dict[str, int] | None
) -> httpx.Response:
    return await who.http.post(
        f"/api/v1/accounts/{account}/holds/{hold_id}/{action}",
        json=body,
        headers={**who.auth, "Idempotency-Key": str(uuid.uuid4())},
    )


async def test_statements_reconcile_with_the_ledger_across_a_month_boundary(
    http: httpx.AsyncClient, db: asyncpg.Pool, stack: EmbeddedStack
) -> None:
    ada, bob = await sign_up(http, "Ada Stated"), await sign_up(http, "Bob Counterparty")
    mine = (await ada.open_account(name="Everyday"))["id"]
    theirs = (await bob.open_account(name="Joint"))["id"]

    # Last month: 100.00 in, 20.00 out, 30.00 to Bob, 5.00 back from Bob.
    assert (await ada.deposit(mine, 100_00, description="salary")).status_code == 201
    assert (await ada.withdraw(mine, 20_00)).status_code == 201
    assert (await ada.transfer(mine, theirs, 30_00, description="rent")).status_code == 201
    assert (await bob.transfer(theirs, mine, 5_00, description="refund")).status_code == 201
    moved_to = await move_into_previous_month(db, [mine, theirs])
    last_month = month_label(moved_to)

    # This month: 7.77 in, 2.00 to Bob, 1.50 from Bob, 1.00 out, a card hold of 3.00
    # posted for 2.50 and one of 1.00 voided; then staff freeze the account. Holds and
    # the freeze are events on the stream that are not postings; the posted hold's
    # withdrawal is one.
    assert (await ada.deposit(mine, 7_77)).status_code == 201
    assert (await ada.transfer(mine, theirs, 2_00)).status_code == 201
    assert (await bob.transfer(theirs, mine, 1_50)).status_code == 201
    assert (await ada.withdraw(mine, 1_00)).status_code == 201
    card = await hold(ada, mine, 3_00, "card: bakery")
    assert (await hold_action(ada, mine, card, "post", {"amount": 2_50})).status_code == 200
    voided = await hold(ada, mine, 1_00, "card: cancelled")
    assert (await hold_action(ada, mine, voided, "void", None)).status_code == 200
    boss = await admin(http, stack)
    frozen = await http.post(
        f"/api/v1/accounts/{mine}/freeze",
        json={"reason": "statement review"},
        headers={**boss.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert frozen.status_code == 200, frozen.text
    now = await db.fetchval("SELECT clock_timestamp()")
    this_month = month_label(now)
    assert this_month != last_month

    # Last month's statement: final, opening 0, four postings, closing 55.00.
    r = await statement(ada, mine, last_month, "csv")
    summary, postings = parse_csv(r)
    assert r.headers["content-disposition"].startswith('attachment; filename="statement-')
    assert r.headers["content-disposition"].endswith(f'-{last_month}.csv"')
    assert summary["status"][0] == "final" and summary["month"][0] == last_month
    assert summary["holder"][0] == "Ada Stated" and summary["account_name"][0] == "Everyday"
    mine_number = (await ada.account(mine)).json()["account_number"]
    theirs_number = (await bob.account(theirs)).json()["account_number"]
    assert summary["account_number"][0] == mine_number and summary["currency"][0] == "EUR"
    assert [(p["kind"], p["amount_minor"]) for p in postings] == [
        ("deposit", "10000"),
        ("withdrawal", "-2000"),
        ("transfer_out", "-3000"),
        ("transfer_in", "500"),
    ]
    assert [p["counterparty_account"] for p in postings] == ["", "", theirs_number, theirs_number]
    assert postings[0]["description"] == "salary" and postings[2]["description"] == "rent"
    assert all(p["booked_at"].startswith(last_month) for p in postings)
    assert summary["opening_balance"] == ["0.00", "0"]
    assert summary["money_in"] == ["105.00", "10500"]
    assert summary["money_out"] == ["50.00", "5000"]
    assert summary["postings"][0] == "4"
    assert summary["closing_balance"] == ["55.00", "5500"]
    month_end = first_of(now)  # the first instant of this month
    assert (await fold_at(db, mine, month_end)).balance == 55_00

    # This month's statement: to date, opening = last month's closing, the freeze
    # is no posting, closing = the balance now = the fold of every event.
    r = await statement(ada, mine, this_month)  # csv by default
    summary, postings = parse_csv(r)
    assert summary["status"][0] == "to_date"
    assert summary["opening_balance"] == ["55.00", "5500"]
    assert [int(p["amount_minor"]) for p in postings] == [7_77, -2_00, 1_50, -1_00, -2_50]
    assert postings[-1]["kind"] == "withdrawal"  # the posted hold
    stream_types = await db.fetch(
        "SELECT DISTINCT event_type FROM events WHERE stream_id = $1", uuid.UUID(mine)
    )
    assert {"FundsHeld", "HoldReleased", "AccountFrozen"} <= {r[0] for r in stream_types}
    opening, closing = int(summary["opening_balance"][1]), int(summary["closing_balance"][1])
    money_in, money_out = int(summary["money_in"][1]), int(summary["money_out"][1])
    assert opening + money_in - money_out == closing == 58_77
    assert closing == (await fold_at(db, mine, now)).balance == await ada.balance(mine)
    for p in postings:  # every running balance is the ledger's
        opening += int(p["amount_minor"])
        assert int(p["balance_minor"]) == opening

    # The other side of the transfers reconciles too (Bob, by account number).
    r = await statement(bob, theirs_number.replace(" ", ""), last_month)
    summary, postings = parse_csv(r)
    assert [p["kind"] for p in postings] == ["transfer_in", "transfer_out"]
    assert summary["closing_balance"][1] == "2500"
    assert (await fold_at(db, theirs, month_end)).balance == 25_00

    # Last month as PDF: a valid document whose text carries the closing balance.
    r = await statement(ada, mine, last_month, "pdf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].endswith(f'-{last_month}.pdf"')
    reader = pypdf.PdfReader(io.BytesIO(r.content), strict=True)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Closing balance   55.00 EUR" in text
    assert "Opening balance   0.00 EUR" in text and mine_number in text and "final" in text

    # Staff read any account's statement.
    assert (await statement(boss, mine, last_month, "pdf")).status_code == 200


async def test_a_statement_is_only_for_its_owner_and_a_month_that_can_have_one(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada, eve = await sign_up(http, "Ada Private"), await sign_up(http, "Eve Nosy")
    mine = (await ada.open_account())["id"]
    assert (await ada.deposit(mine, 12_34)).status_code == 201
    now = await db.fetchval("SELECT clock_timestamp()")
    this_month, next_month = month_label(now), month_label(first_of(now, -1))

    r = await statement(eve, mine, this_month)
    assert r.status_code == 404 and r.json()["code"] == "account_not_found", r.text
    number = (await ada.account(mine)).json()["account_number"].replace(" ", "")
    assert (await statement(eve, number, this_month)).status_code == 404
    assert (await statement(ada, str(uuid.uuid4()), this_month)).status_code == 404
    anonymous = await http.get(STATEMENTS.format(mine, this_month))
    assert anonymous.status_code == 401

    for bad in ("2026-13", "2026-1", "nov-2026", "0000-01", "2026-11-01"):
        r = await statement(ada, mine, bad)
        assert r.status_code == 400 and r.json()["code"] == "invalid_month", (bad, r.text)
        assert "like 2026-11" in r.json()["detail"]
    r = await statement(ada, mine, this_month, "xlsx")
    assert r.status_code == 400 and r.json()["code"] == "invalid_format", r.text

    # Without ?format= the Accept header chooses; ?format= wins over it; CSV by default.
    url = STATEMENTS.format(mine, this_month)
    for accept, params, media_type in [
        ("application/pdf", None, "application/pdf"),
        ("application/*", None, "application/pdf"),
        ("application/pdf;q=0.5, text/csv", None, "text/csv"),
        ("text/csv;q=0.2, application/pdf;q=0.9", None, "application/pdf"),
        ("*/*", None, "text/csv"),
        ("application/json", None, "text/csv"),
        ("application/pdf", {"format": "csv"}, "text/csv"),
        ("text/csv", {"format": "pdf"}, "application/pdf"),
    ]:
        r = await http.get(url, params=params, headers={**ada.auth, "Accept": accept})
        assert r.status_code == 200, (accept, r.text)
        assert r.headers["content-type"].split(";")[0] == media_type, (accept, params)

    r = await statement(ada, mine, next_month)
    assert r.status_code == 422 and r.json()["code"] == "statement_month_in_future", r.text
    assert "has not begun" in r.json()["detail"]
    r = await statement(ada, mine, month_label(first_of(now, 1)))
    assert r.status_code == 422 and r.json()["code"] == "statement_before_account_opened"
    assert f"opened in {this_month}" in r.json()["detail"]

    # A new account's month to date: opening 0, the one deposit, marked to date.
    r = await statement(ada, mine, this_month, "pdf")
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    assert "to date (as of" in text and "Closing balance   12.34 EUR" in text
