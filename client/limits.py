"""An account's outgoing limits in words, as the account's screen shows them under the
balance: what one payment may be, what may leave in a day, and what is left today."""

from __future__ import annotations

from client.balances import money
from shared.api import AccountLimitsResponse
from shared.money import Money


def limits_text(limits: AccountLimitsResponse, currency: str) -> str:
    def amount(minor: int) -> str:
        return money(Money(amount=minor, currency=currency))

    parts = []
    # the smaller of the account's own limit and the bank's, which holds for every account
    per_payment = min(
        (x for x in (limits.per_transaction, limits.bank_per_transaction) if x is not None),
        default=None,
    )
    if per_payment is not None:
        parts.append(f"{amount(per_payment)} a payment")
    if limits.daily_outgoing is not None:
        day = f"{amount(limits.daily_outgoing)} a day"
        if limits.remaining_today is not None:
            day += f", {amount(limits.remaining_today)} left today"
        parts.append(day)
    return "Limits: " + " · ".join(parts) if parts else "No limits on payments"
