"""Where money comes from (issue #17): named checks, pure.

Money enters the bank in two ways only: a teller takes cash at the desk into a
customer's account, or - in development mode only - a customer tops up their own
account "from outside" (there is no card acquirer or incoming payment rail here),
up to a daily cap per customer. Everything else moves money that is already in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from uuid import UUID

from server.domain import errors
from server.domain.account import Account
from shared.money import money_text


def check_top_ups_enabled(enabled: bool) -> None:
    if not enabled:
        raise errors.TopUpsDisabledError(
            "Topping up an account from outside exists only in development mode; "
            "pay cash in at a branch (a teller deposits it) or receive a transfer."
        )


def topped_up_on(accounts: Iterable[Account], owner_id: UUID, day: date, currency: str) -> int:
    """What ``owner_id`` topped up on ``day`` over the given accounts of theirs in
    ``currency``: the cap is in minor units, so it counts per currency (a yen is not a
    cent)."""
    return sum(
        a.topped_up_on(day) for a in accounts if a.owner_id == owner_id and a.currency == currency
    )


def check_top_up_within_daily_cap(already_today: int, amount: int, cap: int, currency: str) -> None:
    left = max(cap - already_today, 0)
    if amount > left:
        raise errors.TopUpCapExceededError(
            f"Development top-ups are capped at {money_text(cap, currency)} a day per"
            f" customer; {money_text(left, currency)} is left today."
        )


def check_cash_not_for_own_account(account: Account, staff_id: UUID) -> None:
    """Four eyes on the cash desk: staff do not pay cash into their own accounts."""
    if account.owner_id == staff_id:
        raise errors.CashDepositToOwnAccountError(
            "Staff cannot take a cash deposit into an account of their own; "
            "another teller must do it."
        )


def needs_second_person(amount: int, threshold: int | None) -> bool:
    """A cash deposit of *more* than the threshold needs a second member of staff
    (None: four eyes are off); the threshold itself is one teller's to take."""
    return threshold is not None and amount > threshold


def check_cash_within_one_person(amount: int, threshold: int | None, currency: str) -> None:
    if threshold is not None and needs_second_person(amount, threshold):
        raise errors.ApprovalRequiredError(
            f"A cash deposit over {money_text(threshold, currency)} needs a second member of staff"
            " to approve it before the money is credited."
        )
