"""Move money, filled in for the customer to check and send.

- Pay again (``repeat_of``): a transfer that left an account the customer can still pay
  from, to an account named by its number, offered as a new payment with the same
  account, recipient, amount and reference.
- Move the money (``close_out``): an account the bank will not close while money is on
  it, its whole balance to move elsewhere (the customer picks where).

Nothing is sent until the customer confirms, as for any payment (a new Idempotency-Key:
it is a new payment, not a retry). Pure rules: no I/O, no Flet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple
from uuid import UUID

from client.account_numbers import grouped
from shared.api import AccountResponse, TransactionResponse
from shared.money import major_text


class FilledIn(NamedTuple):
    """What Move money is filled in with (a transfer)."""

    account_id: UUID
    to_account_number: str  # "": the customer picks where
    amount: str  # as typed: "1234.50"
    description: str


def repeat_of(tx: TransactionResponse, accounts: Mapping[UUID, AccountResponse]) -> FilledIn | None:
    """The payment ``tx`` made, to make again; None for anything but a transfer out of
    an open account to an account known by its number and not closed."""
    if tx.kind != "transfer_out" or not tx.counterparty_account_number:
        return None
    source = accounts.get(tx.account_id)
    if source is None or source.status == "closed":
        return None
    own = accounts.get(tx.counterparty_account_id) if tx.counterparty_account_id else None
    if own is not None and own.status == "closed":
        return None
    return FilledIn(
        account_id=source.id,
        to_account_number=grouped(tx.counterparty_account_number),
        amount=major_text(tx.amount.amount, tx.amount.currency),
        description=tx.description,
    )


def close_out(account: AccountResponse) -> FilledIn | None:
    """The whole balance of an account to close, to move first; None when nothing is on
    it (or it is overdrawn: paying in is what it needs)."""
    if account.status == "closed" or account.balance.amount <= 0:
        return None
    return FilledIn(
        account_id=account.id,
        to_account_number="",
        amount=major_text(account.balance.amount, account.balance.currency),
        description=f"Closing {account.name}",
    )
