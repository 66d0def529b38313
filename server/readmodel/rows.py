"""Read-model rows (asyncpg records, Piccolo dicts, planned posting tuples) to
the response Structs of shared.api."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.api import AccountResponse, PendingHoldResponse, TransactionResponse
from shared.money import Money


def account_response(row: Mapping[str, Any]) -> AccountResponse:
    return AccountResponse(
        id=row["account_id"],
        name=row["name"],
        currency=row["currency"],
        status=row["status"],
        balance=Money(amount=row["balance"], currency=row["currency"]),
        version=row["version"],
        owner_id=row["owner_id"],
        opened_at=row["opened_at"],
        available_balance=Money(amount=row["balance"] - row["held"], currency=row["currency"]),
    )


def hold_response(row: Mapping[str, Any]) -> PendingHoldResponse:
    return PendingHoldResponse(
        hold_id=row["hold_id"],
        account_id=row["account_id"],
        status="pending",
        amount=Money(amount=row["amount"], currency=row["currency"]),
        description=row["description"],
        expires_at=row["expires_at"],
        to_account_id=row["to_account_id"],
        placed_at=row["placed_at"],
    )


def transaction_response(row: Mapping[str, Any]) -> TransactionResponse:
    currency = row["currency"]
    return TransactionResponse(
        transaction_id=row["transaction_id"],
        account_id=row["account_id"],
        kind=row["kind"],
        amount=Money(amount=row["amount"], currency=currency),
        balance_after=Money(amount=row["balance_after"], currency=currency),
        counterparty_account_id=row["counterparty_account_id"],
        description=row["description"],
        occurred_at=row["occurred_at"],
        version=row["version"],
    )


def posting_response(
    p: tuple[Any, ...], counterparty_number: str | None = None
) -> TransactionResponse:
    """From a planned posting row (server.projections.plan.PostingRow) and, for a
    transfer, the other account's number."""
    account_id, version, txn_id, kind, amount, balance_after, currency, cp, desc, at, _ = p
    return TransactionResponse(
        transaction_id=txn_id,
        account_id=account_id,
        kind=kind,
        amount=Money(amount=amount, currency=currency),
        balance_after=Money(amount=balance_after, currency=currency),
        counterparty_account_id=cp,
        counterparty_account_number=counterparty_number,
        description=desc,
        occurred_at=at,
        version=version,
    )
