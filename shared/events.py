"""Domain events: one tagged union per stream type, and the RecordedEvent envelope.

The envelope is the same on the database row (events table), the Kafka record
(value of account-events / transaction-events) and the WebSocket message.
Schema evolution: add fields with defaults; never rename a tag.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="type"):
    """Base of every event; the class name is the tag."""


# --- account stream (stream_type "account", stream_id = account id) ---------


class AccountOpened(Event, frozen=True):
    account_id: UUID
    owner_id: UUID
    name: str
    currency: str
    overdraft_limit: int = 0
    # Outgoing limits (issue #17), copied from the settings' defaults at opening;
    # None: none but the bank-wide per-transaction maximum.
    per_transaction_limit: int | None = None
    daily_outgoing_limit: int | None = None


# Where a deposit's money came from (MoneyDeposited.source; "" before issue #17).
DEPOSIT_SOURCE_CASH = "cash"  # a teller took cash at the desk
DEPOSIT_SOURCE_DEV_TOP_UP = "dev_top_up"  # a customer's top-up, development mode only


class MoneyDeposited(Event, frozen=True):
    account_id: UUID
    transaction_id: UUID
    amount: int
    currency: str
    balance_after: int
    description: str = ""
    source: str = ""  # DEPOSIT_SOURCE_*
    booked_on: date | None = None  # the UTC business day (daily caps and limits)


class MoneyWithdrawn(Event, frozen=True):
    account_id: UUID
    transaction_id: UUID
    amount: int
    currency: str
    balance_after: int
    description: str = ""
    booked_on: date | None = None  # the UTC business day (daily outgoing limit)


class MoneyTransferredOut(Event, frozen=True):
    account_id: UUID
    transfer_id: UUID
    to_account_id: UUID
    amount: int
    currency: str
    balance_after: int
    description: str = ""
    booked_on: date | None = None  # the UTC business day (daily outgoing limit)


class MoneyTransferredIn(Event, frozen=True):
    account_id: UUID
    transfer_id: UUID
    from_account_id: UUID
    amount: int
    currency: str
    balance_after: int
    description: str = ""


class AccountFrozen(Event, frozen=True):
    account_id: UUID
    reason: str = ""


class AccountUnfrozen(Event, frozen=True):
    account_id: UUID


class AccountClosed(Event, frozen=True):
    account_id: UUID


class AccountRenamed(Event, frozen=True):
    """The customer (or staff) gave the account another name."""

    account_id: UUID
    name: str


class AccountLimitsChanged(Event, frozen=True):
    """Staff set the account's outgoing limits (issue #17); minor units."""

    account_id: UUID
    per_transaction_limit: int
    daily_outgoing_limit: int
    reason: str = ""


# --- holds (issue #17: two-phase transfers, TigerBeetle's pending -> post/void/expire) --
# A hold changes only the available balance (available = balance - pending holds);
# the ledger is still made only of the four balance events. Posting a hold is
# HoldReleased(reason="posted", amount = the whole hold) followed by the ordinary
# postings (MoneyWithdrawn with transaction_id = hold_id, or MoneyTransferredOut /
# MoneyTransferredIn / TransferCompleted with transfer_id = hold_id).

HoldReleaseReason = Literal["posted", "voided", "expired"]


class FundsHeld(Event, frozen=True, kw_only=True):
    account_id: UUID
    hold_id: UUID
    amount: int
    currency: str
    description: str = ""
    expires_at: datetime
    to_account_id: UUID | None = None  # a pending transfer's destination; None: card-style
    available_after: int
    booked_on: date | None = None  # the UTC business day it counts on (daily outgoing limit)


class HoldReleased(Event, frozen=True):
    account_id: UUID
    hold_id: UUID
    amount: int  # the whole amount that was held (a post for less still releases it all)
    reason: HoldReleaseReason
    available_after: int


AccountEvent = (
    AccountOpened
    | MoneyDeposited
    | MoneyWithdrawn
    | MoneyTransferredOut
    | MoneyTransferredIn
    | AccountFrozen
    | AccountUnfrozen
    | AccountClosed
    | AccountLimitsChanged
    | AccountRenamed
    | FundsHeld
    | HoldReleased
)

# Events that change a balance (they all carry amount and balance_after).
BalanceEvent = MoneyDeposited | MoneyWithdrawn | MoneyTransferredOut | MoneyTransferredIn
BALANCE_EVENT_TYPES = (MoneyDeposited, MoneyWithdrawn, MoneyTransferredOut, MoneyTransferredIn)

# --- transfer stream (stream_type "transfer", stream_id = transfer id) ------
# A transfer within one database posts both legs at once. When accounts live on
# different shards this becomes TransferRequested -> TransferCompleted/TransferVoided,
# which only adds tags to this union.


class TransferCompleted(Event, frozen=True):
    transfer_id: UUID
    from_account_id: UUID
    to_account_id: UUID
    amount: int
    currency: str
    description: str = ""


TransferEvent = TransferCompleted

AnyEvent = AccountEvent | TransferEvent

STREAM_TYPE_ACCOUNT = "account"
STREAM_TYPE_TRANSFER = "transfer"
# The label of the scheduler's void of a pending transfer whose destination has closed
# (the payer is notified of it; server/notifications/rules.py).
DESTINATION_CLOSED_VOID = "hold-destination-closed"


class EventMetadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    actor_id: str | None = None
    idempotency_key: str | None = None
    trace_id: str | None = None
    request_id: str | None = None

    @classmethod
    def by_the_scheduler(cls, label: str, key: str, trace_id: str) -> EventMetadata:
        """What the scheduler's events carry: ``idempotency_key = "<label>:<key>"``."""
        return cls(actor_id="scheduler", idempotency_key=f"{label}:{key}", trace_id=trace_id)

    def made_by_the_scheduler_as(self, label: str) -> bool:
        return self.actor_id == "scheduler" and (self.idempotency_key or "").startswith(f"{label}:")


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored: where it sits in its stream and in the whole store."""

    event_id: UUID
    stream_id: UUID
    stream_type: str
    version: int
    position: int
    recorded_at: datetime
    metadata: EventMetadata
    event: AnyEvent


event_encoder = msgspec.json.Encoder()
event_decoder = msgspec.json.Decoder(AnyEvent)
recorded_event_decoder = msgspec.json.Decoder(RecordedEvent)


def event_type_name(event: Event) -> str:
    return type(event).__name__
