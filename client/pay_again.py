"""Pay again: a payment made before, offered as a new one to check and send.

A transfer that left an account the customer can still pay from, to an account named
by its number, can be repeated: Payments opens with the same account, recipient,
amount and reference filled in, and nothing is sent until the customer confirms, as
for any payment (a new Idempotency-Key: it is a new payment, not a retry). Pure rules:
no I/O, no Flet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple
from uuid import UUID

from client.account_numbers import grouped
from shared.api import AccountResponse, TransactionResponse
from shared.money import major_text


class Repeat(NamedTuple):
    """What Payments is filled in with."""

    account_id: UUID
    to_account_number: str
    amount: str  # as typed: "1234.50"
    description: str


def repeat_of(tx: TransactionResponse, accounts: Mapping[UUID, AccountResponse]) -> Repeat | None:
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
    return Repeat(
        account_id=source.id,
        to_account_number=grouped(tx.counterparty_account_number),
        amount=major_text(tx.amount.amount, tx.amount.currency),
        description=tx.description,
    )
