"""Who a transfer was with, as the app says it: one's own account by its name, a saved
payee by their nickname, anyone else by the account number; and the details a line of
history opens (no internal id among them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from client import counterparties
from client.views.transaction_details import detail_rows
from shared.api import AccountResponse, PayeeResponse, TransactionResponse
from shared.money import Money

MINE = uuid.uuid4()
SAVINGS = uuid.uuid4()
BOB = uuid.uuid4()
BOBS_NUMBER = "XN36 NWBK 0000 0000 01"


def tx(
    kind: str = "transfer_out", other: uuid.UUID | None = BOB, number: str | None = BOBS_NUMBER
) -> TransactionResponse:
    return TransactionResponse(
        transaction_id=uuid.UUID("0b7f6c1e-1111-4222-8333-944445555666"),
        account_id=MINE,
        kind=kind,  # type: ignore[arg-type]
        amount=Money(amount=12_34, currency="EUR"),
        balance_after=Money(amount=37_66, currency="EUR"),
        counterparty_account_id=other,
        counterparty_account_number=number,
        description="Lunch",
        occurred_at=datetime(2026, 12, 6, 12, 30, tzinfo=UTC),
        version=7,
    )


def savings() -> dict[uuid.UUID, AccountResponse]:
    return {
        SAVINGS: AccountResponse(
            id=SAVINGS,
            name="Savings",
            currency="EUR",
            status="active",
            balance=Money(amount=0, currency="EUR"),
            version=1,
            owner_id=uuid.uuid4(),
        )
    }


def test_a_transfer_is_named_by_own_account_then_payee_then_number() -> None:
    mum = PayeeResponse(account_number="xn36nwbk000000000 1", nickname="Mum", name_match="match")
    assert counterparties.who(tx(other=SAVINGS, number="XN..."), savings(), [mum]) == "Savings"
    assert counterparties.who(tx(), savings(), [mum]) == "Mum"  # numbers compared compact
    assert counterparties.who(tx(number="XN36NWBK0000000001"), {}, []) == BOBS_NUMBER
    assert counterparties.who(tx(number=None), {}, [mum]) is None  # a push: not known yet
    assert counterparties.who(tx("deposit", other=None, number=None), savings(), [mum]) is None


def test_the_title_says_which_way_the_money_went() -> None:
    assert counterparties.title("Transfer sent", tx(), "Mum") == "To Mum"
    assert counterparties.title("Transfer received", tx("transfer_in"), "Mum") == "From Mum"
    assert counterparties.title("Deposit", tx("deposit", None, None), None) == "Deposit"


def test_the_details_name_the_other_side_once() -> None:
    rows = dict(detail_rows(tx(), "Mum"))
    assert rows["To"] == "Mum" and rows["To account"] == BOBS_NUMBER
    assert rows["Reference"] == "Lunch"
    assert rows["Balance after"] == "37.66 EUR"
    assert "0b7f6c1e" not in str(rows)  # the app shows no internal ids
    unknown = [label for label, _ in detail_rows(tx("transfer_in"), BOBS_NUMBER)]
    assert unknown == ["Type", "From account", "Reference", "Date", "Balance after"]
    cash = [label for label, _ in detail_rows(tx("deposit", None, None), None)]
    assert cash == ["Type", "Reference", "Date", "Balance after"]
