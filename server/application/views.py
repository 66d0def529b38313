"""Shapes the API answers with, built from aggregate state."""

from __future__ import annotations

from datetime import datetime

from server.domain.account import Account
from shared.api import AccountResponse
from shared.money import Money


def account_response(account: Account, opened_at: datetime | None = None) -> AccountResponse:
    return AccountResponse(
        id=account.id,
        name=account.name,
        currency=account.currency,
        status=account.status,
        balance=Money(amount=account.balance, currency=account.currency),
        version=account.version,
        owner_id=account.owner_id,
        opened_at=opened_at,
        available_balance=Money(amount=account.available, currency=account.currency),
    )
