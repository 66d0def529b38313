"""Shapes the API answers with, built from aggregate state."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from server.domain.account import Account
from shared.api import AccountResponse, MoneyMovementResponse, TransferResponse
from shared.money import Money


def balance_of(account: Account) -> Money:
    """The ledger balance."""
    return Money(amount=account.balance, currency=account.currency)


def available_of(account: Account) -> Money:
    """The ledger balance less what pending holds reserve: what can be spent now."""
    return Money(amount=account.available, currency=account.currency)


def movement_response(
    after: Account, transaction_id: UUID, source: str | None = None, notice: str | None = None
) -> MoneyMovementResponse:
    """A deposit's or a withdrawal's answer: the account as it is after it."""
    return MoneyMovementResponse(
        transaction_id=transaction_id,
        balance=balance_of(after),
        version=after.version,
        available_balance=available_of(after),
        source=source,
        notice=notice,
    )


def transfer_response(source_after: Account, transfer_id: UUID) -> TransferResponse:
    """A transfer's answer: the source account as it is after it."""
    return TransferResponse(
        transfer_id=transfer_id,
        balance=balance_of(source_after),
        version=source_after.version,
        available_balance=available_of(source_after),
    )


def account_response(account: Account, opened_at: datetime | None = None) -> AccountResponse:
    return AccountResponse(
        id=account.id,
        name=account.name,
        currency=account.currency,
        status=account.status,
        balance=balance_of(account),
        version=account.version,
        owner_id=account.owner_id,
        opened_at=opened_at,
        available_balance=available_of(account),
    )
