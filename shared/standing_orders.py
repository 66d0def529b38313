"""REST bodies of standing orders (issue #17 item 4). Unknown fields are rejected."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from shared.api import AccountNumberText, AccountRef, Description, Request
from shared.money import CurrencyCode, PositiveMinorUnits

Frequency = Literal["once", "weekly", "monthly"]
OrderStatus = Literal["active", "finished", "cancelled", "suspended"]
MOST_PAYMENTS = 1200  # the most payments one order may be given (``count``)
Payments = Annotated[int, msgspec.Meta(ge=1, le=MOST_PAYMENTS)]


class StandingOrderRequest(Request, frozen=True):
    """Pay ``amount`` from one of your accounts to another account, on ``start_date`` and
    then weekly or monthly until ``end_date`` or ``count`` payments (a recurring order
    needs one of them)."""

    from_account_id: UUID
    to_account_id: UUID
    amount: PositiveMinorUnits
    frequency: Frequency
    start_date: date
    end_date: date | None = None
    count: Payments | None = None
    description: Description = ""
    currency: CurrencyCode | None = None


class StandingOrderByNumberRequest(Request, frozen=True):
    """The same order with its accounts named as people name them, as for
    POST /transfers/by-account-number: the destination by its account number (spaces
    allowed), the source by number or id."""

    from_account: AccountRef
    to_account_number: AccountNumberText
    amount: PositiveMinorUnits
    frequency: Frequency
    start_date: date
    end_date: date | None = None
    count: Payments | None = None
    description: Description = ""
    currency: CurrencyCode | None = None


class StandingOrderChange(Request, frozen=True):
    """A new amount for every payment from the order's next one on, and a new reference
    if given (left out: kept)."""

    amount: PositiveMinorUnits
    description: Description | None = None


class Occurrence(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    due_date: date
    outcome: Literal["paid", "refused"]
    executed_at: datetime
    transfer_id: UUID | None = None
    reason_code: str | None = None
    message: str | None = None


class StandingOrderResponse(msgspec.Struct, kw_only=True):
    id: UUID
    from_account_id: UUID
    to_account_id: UUID
    amount: int
    currency: str | None
    # The destination's number (groups of four), as a person reads it.
    to_account_number: str | None = None
    description: str
    frequency: Frequency
    start_date: date
    end_date: date | None
    count: int | None
    status: OrderStatus
    next_due: date | None
    refusals_in_row: int
    created_at: datetime
    occurrences: list[Occurrence] = msgspec.field(default_factory=list)
    # How many payments it will still make (tried on their dates): 0 once it pays no
    # more; null while suspended (none until resumed, and resuming skips missed dates).
    payments_left: int | None = None


class StandingOrderList(msgspec.Struct, kw_only=True):
    items: list[StandingOrderResponse]
