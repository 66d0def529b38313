"""Ledger and available balance as the app shows them (issue #17).

The ledger balance (``balance``) is what has been posted; the available balance is
that minus the funds held by pending payments (card-style holds). An answer without
``available_balance`` (an older bank) means nothing is held: available = balance.
"""

from __future__ import annotations

from shared.api import AccountResponse
from shared.money import Money, money_text


def money(m: Money) -> str:
    """An amount as the app shows it: '1,234.56 EUR'."""
    return money_text(m.amount, m.currency)


def available_of(a: AccountResponse) -> Money:
    """The account's available balance; its ledger balance where the bank gave none."""
    return a.available_balance or a.balance


def differs(a: AccountResponse, known: bool = True) -> bool:
    """Whether to show both figures. ``known`` False: the ledger balance just moved
    (a push) and the available one is being fetched again, so only the balance,
    which is certain, is shown."""
    return known and available_of(a).amount != a.balance.amount


def after_movement(balance: Money, available: Money | None) -> str:
    """The balance after a payment, and what can be spent where pending holds make that
    less: "100.00 EUR (available 76.55 EUR)"."""
    if available is None or available.amount == balance.amount:
        return money(balance)
    return f"{money(balance)} (available {money(available)})"


def both(a: AccountResponse, known: bool = True) -> str:
    """ "Available … · Balance …" where the two differ, else the balance alone."""
    if differs(a, known):
        return f"Available {money(available_of(a))} · Balance {money(a.balance)}"
    return money(a.balance)
