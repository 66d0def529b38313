"""Ledger and available balance in the app (issue #17), and the statement months."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import msgspec

from client.balances import after_movement, available_of, both, differs
from client.state import AppState
from client.statements import file_name, month_label, months_back
from shared.api import AccountResponse
from shared.money import Money


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def account(balance: int, available: int | None = None, version: int = 3) -> AccountResponse:
    return AccountResponse(
        id=uuid.UUID(int=1),
        name="Everyday",
        currency="EUR",
        status="active",
        balance=eur(balance),
        version=version,
        owner_id=uuid.UUID(int=2),
        opened_at=datetime(2026, 11, 1, tzinfo=UTC),
        account_number="XN36 NWBK 0000 0000 01",
        available_balance=None if available is None else eur(available),
    )


def test_without_an_available_balance_it_is_the_balance() -> None:
    a = account(100_00)
    assert available_of(a) == eur(100_00)
    assert not differs(a)
    assert both(a) == "100.00 EUR"


def test_both_figures_are_shown_where_funds_are_held() -> None:
    a = account(100_00, available=70_00)
    assert differs(a)
    assert both(a) == "Available 70.00 EUR · Balance 100.00 EUR"
    assert both(account(100_00, available=100_00)) == "100.00 EUR"


def test_after_a_payment_what_can_be_spent_is_said_where_holds_make_it_less() -> None:
    assert after_movement(eur(100_00), eur(76_55)) == "100.00 EUR (available 76.55 EUR)"
    assert after_movement(eur(100_00), eur(100_00)) == "100.00 EUR"
    assert after_movement(eur(100_00), None) == "100.00 EUR"  # an answer stored before


def test_a_pushed_balance_leaves_the_available_one_unknown_until_refetched() -> None:
    state = AppState("http://bank")
    state.set_accounts([account(100_00, available=70_00, version=3)])
    aid = uuid.UUID(int=1)
    assert state.apply_balance(aid, eur(90_00), 4)  # a posting, pushed without available
    assert aid in state.available_unknown
    shown = state.accounts[aid]
    assert both(shown, known=aid not in state.available_unknown) == "90.00 EUR"
    seen: list[str] = []
    state.listen(lambda topic, _: seen.append(topic))
    state.set_accounts([account(90_00, available=60_00, version=4)])  # the refetch
    assert aid not in state.available_unknown
    assert seen == ["accounts"]  # same version, but what is shown changed
    assert both(state.accounts[aid]) == "Available 60.00 EUR · Balance 90.00 EUR"
    assert state.apply_balance(aid, eur(80_00), 5, available=eur(50_00))
    assert aid not in state.available_unknown
    assert available_of(state.accounts[aid]) == eur(50_00)
    # an older push never steps back
    assert not state.apply_balance(aid, eur(1), 4, available=eur(1))
    assert msgspec.structs.asdict(state.accounts[aid])["version"] == 5


def test_statement_months_are_this_one_and_the_eleven_before() -> None:
    months = months_back(date(2026, 2, 14))
    assert months[:3] == ["2026-02", "2026-01", "2025-12"]
    assert len(months) == 12 and months[-1] == "2025-03"
    assert month_label("2025-12") == "Dec 2025"
    assert file_name("XN36 NWBK 0000 0000 01", "2026-01", "pdf") == (
        "statement-XN36NWBK0000000001-2026-01.pdf"
    )
