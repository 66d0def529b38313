"""Standing orders as the app says them and what its form accepts
(client/standing_orders.py): the other side named as the customer knows it, the next
payment and how many, and a message a person can act on for each bad field."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from client.standing_orders import describe, first_date, payments
from shared.api import AccountResponse, PayeeResponse
from shared.money import Money
from shared.standing_orders import StandingOrderResponse

EVERYDAY, SAVINGS, BOB = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
BOBS_NUMBER = "XN36 NWBK 0000 0000 01"
TODAY = date(2026, 12, 6)


def account(account_id: uuid.UUID, name: str) -> AccountResponse:
    return AccountResponse(
        id=account_id,
        name=name,
        currency="EUR",
        status="active",
        balance=Money(amount=0, currency="EUR"),
        version=1,
        owner_id=uuid.uuid4(),
    )


ACCOUNTS = {EVERYDAY: account(EVERYDAY, "Everyday"), SAVINGS: account(SAVINGS, "Savings")}


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
