"""The account's limits in words, under its balance."""

from __future__ import annotations

import uuid

from client.limits import limits_text
from shared.api import AccountLimitsResponse


def limits(
    per: int | None, daily: int | None, left: int | None, bank: int | None = None
) -> AccountLimitsResponse:
    return AccountLimitsResponse(
        account_id=uuid.uuid4(),
        per_transaction=per,
        daily_outgoing=daily,
        remaining_today=left,
        version=3,
        bank_per_transaction=bank,
    )


def test_the_limits_say_a_payment_a_day_and_what_is_left_today() -> None:
    assert (
        limits_text(limits(100_00, 150_00, 0), "EUR")
        == "Limits: 100.00 EUR a payment · 150.00 EUR a day, 0.00 EUR left today"
    )
    assert limits_text(limits(500, None, None), "JPY") == "Limits: 500 JPY a payment"
    assert limits_text(limits(None, None, None), "EUR") == "No limits on payments"


def test_a_payment_is_limited_by_the_smaller_of_the_accounts_limit_and_the_banks() -> None:
    bank = 1_000_000_00
    assert limits_text(limits(None, None, None, bank), "EUR") == (
        "Limits: 1,000,000.00 EUR a payment"
    )
    assert limits_text(limits(100_00, None, None, bank), "EUR") == "Limits: 100.00 EUR a payment"
    assert limits_text(limits(2_000_000_00, None, None, bank), "EUR") == (
        "Limits: 1,000,000.00 EUR a payment"
    )
