"""Move money filled in (client/filled_in.py): which payments the app offers to make
again, what Payments is filled in with, and an account's balance to move before closing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec

from client.filled_in import FilledIn, close_out, repeat_of
from shared.api import AccountResponse, TransactionResponse
from shared.money import Money
from tests.support.client_accounts import client_account

EVERYDAY, SAVINGS, BOB = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
BOBS_NUMBER = "XN36NWBK0000000001"


SAVINGS_NUMBER = "XN36NWBK0000000007"


def account(account_id: uuid.UUID, name: str, status: str = "active") -> AccountResponse:
    number = SAVINGS_NUMBER if account_id == SAVINGS else "XN36NWBK0000000008"
    return client_account(account_id, name, status=status, number=number)


ACCOUNTS = {EVERYDAY: account(EVERYDAY, "Everyday"), SAVINGS: account(SAVINGS, "Savings")}


def sent(
    to: uuid.UUID = BOB, number: str | None = BOBS_NUMBER, **changes: object
) -> TransactionResponse:
    tx = TransactionResponse(
        transaction_id=uuid.uuid4(),
        account_id=EVERYDAY,
        kind="transfer_out",
        amount=Money(amount=1_234_50, currency="EUR"),
        balance_after=Money(amount=10_00, currency="EUR"),
        counterparty_account_id=to,
        counterparty_account_number=number,
        description="Rent December",
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        version=7,
    )
    return msgspec.structs.replace(tx, **changes)


def test_a_transfer_out_is_filled_in_again_as_it_was_made() -> None:
    assert repeat_of(sent(), ACCOUNTS) == FilledIn(
        account_id=EVERYDAY,
        to_account_number="XN36 NWBK 0000 0000 01",
        amount="1234.50",
        description="Rent December",
    )


def test_one_of_the_customers_own_accounts_is_paid_again_by_its_number() -> None:
    to_savings = sent(SAVINGS, SAVINGS_NUMBER)
    assert repeat_of(to_savings, ACCOUNTS) is not None


def test_only_a_payment_out_to_a_known_number_from_an_open_account_is_offered() -> None:
    assert repeat_of(sent(kind="transfer_in"), ACCOUNTS) is None  # money received
    assert repeat_of(sent(kind="deposit", counterparty_account_id=None), ACCOUNTS) is None
    assert repeat_of(sent(kind="withdrawal", counterparty_account_id=None), ACCOUNTS) is None
    assert repeat_of(sent(number=None), ACCOUNTS) is None  # whom to pay is not known
    closed = {**ACCOUNTS, EVERYDAY: account(EVERYDAY, "Everyday", "closed")}
    assert repeat_of(sent(), closed) is None  # nothing leaves a closed account
    savings_closed = {**ACCOUNTS, SAVINGS: account(SAVINGS, "Savings", "closed")}
    assert repeat_of(sent(SAVINGS, SAVINGS_NUMBER), savings_closed) is None
    assert repeat_of(sent(), {SAVINGS: ACCOUNTS[SAVINGS]}) is None  # not one of theirs


def test_an_account_to_close_has_its_whole_balance_filled_in_to_move() -> None:
    funded = client_account(SAVINGS, "Savings", balance=1_234_567_89)
    assert close_out(funded) == FilledIn(
        account_id=SAVINGS,
        to_account_number="",  # the customer picks where it goes
        amount="1234567.89",
        description="Closing Savings",
    )
    assert close_out(ACCOUNTS[SAVINGS]) is None  # nothing on it: it closes as it is
    overdrawn = client_account(SAVINGS, "Savings", balance=-5_00)
    assert close_out(overdrawn) is None
