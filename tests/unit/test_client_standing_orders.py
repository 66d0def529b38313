"""Standing orders as the app says them and what its form accepts
(client/standing_orders.py): the other side named as the customer knows it, the next
payment and how many, a message a person can act on for each bad field, and Home's
Upcoming: the payments due within a week, soonest first."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from client.standing_orders import (
    describe,
    due_text,
    first_date,
    occurrence_line,
    order_rows,
    paying_versions,
    payments,
    suspended,
    suspended_line,
    upcoming,
    upcoming_line,
)
from shared.api import PayeeResponse
from shared.standing_orders import Occurrence, StandingOrderResponse
from tests.support.client_accounts import client_account

EVERYDAY, SAVINGS, BOB = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
BOBS_NUMBER = "XN36 NWBK 0000 0000 01"
TODAY = date(2026, 12, 6)


ACCOUNTS = {
    EVERYDAY: client_account(EVERYDAY, "Everyday"),
    SAVINGS: client_account(SAVINGS, "Savings"),
}


def order(to: uuid.UUID = BOB, **changes: object) -> StandingOrderResponse:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "from_account_id": EVERYDAY,
        "to_account_id": to,
        "to_account_number": BOBS_NUMBER,
        "amount": 25_00,
        "currency": None,
        "description": "rent",
        "frequency": "monthly",
        "start_date": date(2027, 1, 4),
        "end_date": None,
        "count": 12,
        "status": "active",
        "next_due": date(2027, 1, 4),
        "refusals_in_row": 0,
        "created_at": datetime(2026, 12, 6, tzinfo=UTC),
    }
    return StandingOrderResponse(**{**fields, **changes})  # type: ignore[arg-type]


def test_an_order_is_said_in_the_customers_words() -> None:
    mum = PayeeResponse(account_number="XN36NWBK0000000001", nickname="Mum", name_match="match")
    assert describe(order(), ACCOUNTS, [mum]) == (
        "25.00 EUR every month to Mum",
        "Next 4 Jan 2027 · 12 payments · from Everyday",
    )
    assert describe(order(), ACCOUNTS, [])[0] == f"25.00 EUR every month to {BOBS_NUMBER}"
    assert describe(order(SAVINGS, frequency="once", count=None), ACCOUNTS, [])[0] == (
        "25.00 EUR once to Savings"
    )
    weekly = order(frequency="weekly", count=None, end_date=date(2027, 3, 1))
    assert describe(weekly, ACCOUNTS, []) == (
        f"25.00 EUR every week to {BOBS_NUMBER}",
        "Next 4 Jan 2027 · until 1 Mar 2027 · from Everyday",
    )
    suspended = order(status="suspended", next_due=None)
    assert describe(suspended, ACCOUNTS, [])[1].startswith("Suspended: payments were refused")


def test_the_first_payment_is_today_or_later() -> None:
    assert first_date(" 2027-01-04 ", TODAY) == date(2027, 1, 4)
    assert first_date("2026-12-06", TODAY) == TODAY
    with pytest.raises(ValueError, match="like 2027-01-04"):
        first_date("4 Jan", TODAY)
    with pytest.raises(ValueError, match="from 6 Dec 2026"):
        first_date("2026-12-05", TODAY)


def test_a_repeating_order_says_how_many_payments() -> None:
    assert payments("12", "monthly") == 12
    assert payments("", "once") is None  # a single payment needs no count
    with pytest.raises(ValueError, match="how many payments"):
        payments("twelve", "weekly")
    with pytest.raises(ValueError, match="From 1 to 1200"):
        payments("0", "monthly")


def test_upcoming_is_the_active_orders_due_within_a_week_soonest_first() -> None:
    rent = order(next_due=date(2026, 12, 9))
    gym = order(SAVINGS, amount=30_00, next_due=date(2026, 12, 7))
    late = order(next_due=date(2026, 12, 5))  # missed by a run: paid at the next one
    orders = [
        rent,
        gym,
        late,
        order(next_due=date(2026, 12, 14)),  # a week and a day away
        order(status="suspended", next_due=None),
        order(status="cancelled", next_due=date(2026, 12, 8)),
        order(status="finished", next_due=None),
    ]
    assert upcoming(orders, TODAY) == [late, gym, rent]
    assert upcoming(orders, TODAY, days=0) == [late]


def test_an_upcoming_payment_says_when_in_words() -> None:
    assert due_text(date(2026, 12, 5), TODAY) == "Today"  # overdue: goes at the next run
    assert due_text(TODAY, TODAY) == "Today"
    assert due_text(date(2026, 12, 7), TODAY) == "Tomorrow"
    assert due_text(date(2026, 12, 9), TODAY) == "Wed 9 Dec"
    mum = PayeeResponse(account_number="XN36NWBK0000000001", nickname="Mum", name_match="match")
    rent = order(next_due=date(2026, 12, 7))
    assert upcoming_line(rent, ACCOUNTS, [mum], TODAY) == (
        "25.00 EUR to Mum",
        "Tomorrow · from Everyday · not enough money yet",  # Everyday holds 0.00
    )
    funded = {EVERYDAY: client_account(EVERYDAY, "Everyday", balance=25_00)}
    assert upcoming_line(rent, funded, [mum], TODAY)[1] == "Tomorrow · from Everyday"
    assert upcoming_line(order(SAVINGS, next_due=TODAY), {}, [], TODAY) == (
        f"2500 (minor units) to {BOBS_NUMBER}",  # neither the account nor its currency known
        "Today",
    )


def test_upcoming_is_asked_again_only_when_an_account_an_active_order_pays_from_moves() -> None:
    orders = [
        order(),  # from Everyday
        order(from_account_id=SAVINGS, status="cancelled"),
        order(from_account_id=uuid.uuid4()),  # an account the app does not hold
    ]
    assert paying_versions(orders, ACCOUNTS) == {EVERYDAY: 1}
    savings_moved = {**ACCOUNTS, SAVINGS: client_account(SAVINGS, "Savings", version=9)}
    assert paying_versions(orders, savings_moved) == {EVERYDAY: 1}  # pays no active order
    everyday_moved = {**ACCOUNTS, EVERYDAY: client_account(EVERYDAY, "Everyday", version=2)}
    assert paying_versions(orders, everyday_moved) == {EVERYDAY: 2}


def test_an_orders_details_name_both_sides_the_schedule_and_its_end() -> None:
    mum = PayeeResponse(account_number="XN36NWBK0000000001", nickname="Mum", name_match="match")
    both = order(end_date=date(2027, 6, 30), payments_left=6)
    assert order_rows(both, ACCOUNTS, [mum]) == [
        ("Status", "Active"),
        ("From", "Everyday"),
        ("To", "Mum"),
        ("To account", BOBS_NUMBER),
        ("Reference", "rent"),
        ("How often", "Every month"),
        ("First payment", "4 Jan 2027"),
        ("Next payment", "4 Jan 2027"),
        ("Payments left", "6"),
        ("Ends", "after 12 payments or on 30 Jun 2027, whichever comes first"),
    ]
    # To one's own account: its name, and the number is not said twice for a stranger.
    own = order(SAVINGS, description="", status="suspended", next_due=None, count=3)
    rows = dict(order_rows(own, ACCOUNTS, []))
    assert rows["To"] == "Savings" and rows["To account"] == BOBS_NUMBER
    assert rows["Status"] == "Suspended: payments were refused"
    assert "Reference" not in rows and "Next payment" not in rows
    assert "Payments left" not in rows  # suspended: none until resumed
    stranger = dict(order_rows(order(frequency="once", count=None), ACCOUNTS, []))
    assert stranger["To"] == BOBS_NUMBER and "To account" not in stranger
    assert "Ends" not in stranger  # once: it ends with its one payment


def test_each_payment_of_an_order_says_when_and_why_a_refused_one_was_refused() -> None:
    at = datetime(2027, 3, 1, 6, tzinfo=UTC)

    def occ(outcome: str, code: str | None = None, message: str | None = None) -> Occurrence:
        return Occurrence(
            index=0,
            due_date=date(2027, 3, 1),
            outcome=outcome,  # type: ignore[arg-type]
            executed_at=at,
            reason_code=code,
            message=message,
        )

    assert occurrence_line(occ("paid")) == ("Paid", "1 Mar 2027")
    assert occurrence_line(occ("refused", "insufficient_funds", "Balance 0")) == (
        "Refused",
        "1 Mar 2027 · not enough money in the account",
    )
    assert occurrence_line(occ("refused", "new_rule", "The bank's reason.")) == (
        "Refused",
        "1 Mar 2027 · The bank's reason.",
    )


def test_home_names_the_suspended_orders_which_pay_nothing_until_resumed() -> None:
    stopped = order(SAVINGS, status="suspended", next_due=None)
    orders = [order(), stopped, order(status="cancelled", next_due=None)]
    assert suspended(orders) == [stopped]
    assert suspended_line(stopped, ACCOUNTS, []) == (
        "25.00 EUR to Savings",
        "Suspended: pays nothing until you resume it · from Everyday",
    )
    assert upcoming([stopped], TODAY) == []  # not due: it pays nothing
