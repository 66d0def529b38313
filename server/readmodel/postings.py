"""Postings: the account events that move money, and the history row each one is.

One place for the rule, read by the projection worker (which writes transaction_view),
the queries (which find a posting the read model has not applied yet) and statements.
Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from shared.api import TransactionKind
from shared.events import MoneyDeposited, MoneyTransferredIn, MoneyTransferredOut, MoneyWithdrawn

Posting = MoneyDeposited | MoneyWithdrawn | MoneyTransferredOut | MoneyTransferredIn

KIND_BY_EVENT: dict[type, TransactionKind] = {
    MoneyDeposited: "deposit",
    MoneyWithdrawn: "withdrawal",
    MoneyTransferredOut: "transfer_out",
    MoneyTransferredIn: "transfer_in",
}
# What the events table's event_type column says of them.
POSTING_EVENT_TYPES = [t.__name__ for t in KIND_BY_EVENT]

# transaction_view's columns, in order (server/projections/writer.py): account_id,
# version, transaction_id, kind, amount, balance_after, currency,
# counterparty_account_id, description, occurred_at, event_id.
PostingRow = tuple[UUID, int, UUID, str, int, int, str, UUID | None, str, datetime, UUID]


def posting_of(
    ev: object, account_id: UUID, version: int, recorded_at: datetime, event_id: UUID
) -> PostingRow | None:
    """The transaction_view row of an account stream's event; None if it moves no money."""
    kind = KIND_BY_EVENT.get(type(ev))
    if kind is None:
        return None
    assert isinstance(ev, Posting)
    if isinstance(ev, MoneyDeposited | MoneyWithdrawn):
        txn_id, counterparty = ev.transaction_id, None
    elif isinstance(ev, MoneyTransferredOut):
        txn_id, counterparty = ev.transfer_id, ev.to_account_id
    else:
        txn_id, counterparty = ev.transfer_id, ev.from_account_id
    return (
        account_id,
        version,
        txn_id,
        kind,
        ev.amount,
        ev.balance_after,
        ev.currency,
        counterparty,
        ev.description,
        recorded_at,
        event_id,
    )
