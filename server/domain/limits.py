"""Outgoing limits of an account (issue #17): the decision to change them, pure.

The checks themselves are the Account's (``check_within_transaction_limit``,
``check_within_daily_limit``): they run on every withdrawal and transfer out.
"""

from __future__ import annotations

from server.domain import errors
from server.domain.account import Account
from shared.events import AccountLimitsChanged
from shared.money import INT64_MAX


def check_limit_values(per_transaction: int, daily: int) -> None:
    if not (0 < per_transaction <= INT64_MAX and 0 < daily <= INT64_MAX):
        raise errors.InvalidAmountError("Limits are positive amounts in minor units.")
    if per_transaction > daily:
        raise errors.InvalidAmountError(
            "The per-payment limit cannot exceed the daily limit; raise the daily one too."
        )


def change_limits(
    account: Account, *, per_transaction: int, daily: int, reason: str
) -> AccountLimitsChanged:
    account.check_not_closed()
    check_limit_values(per_transaction, daily)
    return AccountLimitsChanged(
        account_id=account.id,
        per_transaction_limit=per_transaction,
        daily_outgoing_limit=daily,
        reason=reason,
    )


def _raised(current: int | None, new: int) -> bool:
    """None is no limit at all: any limit set on it is a lowering."""
    return current is not None and new > current


def raises_a_limit(account: Account, *, per_transaction: int, daily: int) -> bool:
    """Whether the change lets more money leave than today: either limit goes up. A
    change that raises one and lowers the other is a raise as a whole."""
    return _raised(account.per_transaction_limit, per_transaction) or _raised(
        account.daily_outgoing_limit, daily
    )


def check_not_raised_alone(account: Account, *, per_transaction: int, daily: int) -> None:
    """Four eyes on raising a limit; lowering one takes effect at once."""
    if raises_a_limit(account, per_transaction=per_transaction, daily=daily):
        raise errors.ApprovalRequiredError(
            "Raising an account's limit needs a second member of staff to approve it;"
            " lowering one takes effect at once."
        )
