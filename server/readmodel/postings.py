"""Postings: the account events that move money, and the history row each one is.

One place for the rule, read by the projection worker (which writes transaction_view),
the queries (which find a posting the read model has not applied yet) and statements.
The events are shared.events' BalanceEvent. Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from shared.api import TransactionKind
from shared.events import (
    BALANCE_EVENT_TYPES,
    BalanceEvent,
    MoneyDeposited,
    MoneyTransferredIn,
    MoneyTransferredOut,
    MoneyWithdrawn,
)

KIND_BY_EVENT: dict[type, TransactionKind] = {
    MoneyDeposited: "deposit",
    MoneyWithdrawn: "withdrawal",
    MoneyTransferredOut: "transfer_out",
    MoneyTransferredIn: "transfer_in",
}
# What the events table's event_type column says of them.
POSTING_EVENT_TYPES = [t.__name__ for t in BALANCE_EVENT_TYPES]

# transaction_view's columns, in order (server/projections/writer.py): account_id,
# version, transaction_id, kind, amount, balance_after, currency,
# counterparty_account_id, description, occurred_at, event_id.
PostingRow = tuple[UUID, int, UUID, str, int, int, str, UUID | None, str, datetime, UUID]


def row_counterparty(row: PostingRow) -> UUID | None:
    """A posting row's other account (a transfer's), else None."""
    return row[7]


def counterparty_of(ev: BalanceEvent) -> UUID | None:
    """The other account of a transfer's leg; None for a deposit or a withdrawal."""
    if isinstance(ev, MoneyTransferredOut):
        return ev.to_account_id
    if isinstance(ev, MoneyTransferredIn):
        return ev.from_account_id
    return None


def posting_of(
    ev: object, account_id: UUID, version: int, recorded_at: datetime, event_id: UUID
) -> PostingRow | None:
    """The transaction_view row of an account stream's event; None if it moves no money."""
    if not isinstance(ev, BALANCE_EVENT_TYPES):
        return None
    txn_id = (
        ev.transaction_id if isinstance(ev, MoneyDeposited | MoneyWithdrawn) else ev.transfer_id
    )
    return (
        account_id,
        version,
        txn_id,
        KIND_BY_EVENT[type(ev)],
        ev.amount,
        ev.balance_after,
        ev.currency,
        counterparty_of(ev),
        ev.description,
        recorded_at,
        event_id,
    )
