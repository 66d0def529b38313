"""Who a transfer was with, in the words the customer knows.

The bank names the other account of a transfer by its number (its internal id is
never shown). The app says it the way the customer would: the name of their own
account ("To Savings"), the nickname of a saved payee ("From Mum"), or else the
number in groups of four. A transfer pushed live carries the number too; should one
come without it (the bank could not look it up), the history is read again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from client.account_numbers import compact, grouped
from shared.api import AccountResponse, PayeeResponse, TransactionResponse


def who(
    tx: TransactionResponse,
    accounts: Mapping[UUID, AccountResponse],
    payees: Iterable[PayeeResponse],
) -> str | None:
    """The other side of a transfer: one's own account's name, a payee's nickname or
    the account number; None for a deposit or a withdrawal, or when it is not known."""
    if tx.counterparty_account_id is None:
        return None
    return named(tx.counterparty_account_id, tx.counterparty_account_number, accounts, payees)


def named(
    account_id: UUID,
    account_number: str | None,
    accounts: Mapping[UUID, AccountResponse],
    payees: Iterable[PayeeResponse],
) -> str | None:
    """An account as the customer knows it: the name of their own, a payee's nickname,
    else its number in groups of four (None when the number is not known)."""
    own = accounts.get(account_id)
    if own is not None:
        return own.name
    if account_number is None:
        return None
    number = compact(account_number)
    for p in payees:
        if compact(p.account_number) == number:
            return p.nickname
    return grouped(number)


def side(tx: TransactionResponse) -> str:
    """Which way a transfer went, as the words before the other side say it."""
    return "To" if tx.kind == "transfer_out" else "From"


def title(kind_label: str, tx: TransactionResponse, party: str | None) -> str:
    """'To Savings', 'From Mum', or the kind's own label when there is no other side."""
    return kind_label if party is None else f"{side(tx)} {party}"
