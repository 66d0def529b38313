"""An account as the app holds it (shared.api.AccountResponse), for the unit tests of the
app's pure rules: only what a test cares about is named."""

from __future__ import annotations

import uuid

from shared.api import AccountResponse
from shared.money import Money


def client_account(
    account_id: uuid.UUID,
    name: str,
    *,
    status: str = "active",
    number: str | None = None,
    balance: int = 0,
    version: int = 1,
) -> AccountResponse:
    """A EUR account of ``name`` holding ``balance`` cents."""
    return AccountResponse(
        id=account_id,
        name=name,
        currency="EUR",
        status=status,
        balance=Money(amount=balance, currency="EUR"),
        version=version,
        owner_id=uuid.uuid4(),
        account_number=number,
    )
