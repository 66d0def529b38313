"""GraphQL types: views of the REST bodies in shared/ (converted, never re-decided)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated, Any, NewType
from uuid import UUID

import strawberry
from strawberry.types.scalar import ScalarDefinition

from shared import api, messages
from shared.money import INT64_MAX


def _parse_minor_units(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("minor units are a whole number (cents), not a string or a float")
    if not -INT64_MAX <= value <= INT64_MAX:
        raise ValueError("minor units must fit in 64 bits")
    return value


# GraphQL's Int has 32 bits; money needs 64 (minor units: cents). A JSON number either way.
MinorUnits = NewType("MinorUnits", int)
MINOR_UNITS = strawberry.scalar(
    name="MinorUnits",
    description="An amount in minor units of its currency (cents), a 64-bit integer.",
    serialize=int,
    parse_value=_parse_minor_units,
)
SCALARS: dict[object, ScalarDefinition] = {MinorUnits: MINOR_UNITS}


@strawberry.enum
class AccountStatus(Enum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


@strawberry.enum
class TransactionKind(Enum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"


@strawberry.type
class Money:
    amount: MinorUnits
    currency: str

    @classmethod
    def of(cls, m: Any) -> Money:
        return cls(amount=m.amount, currency=m.currency)


@strawberry.type
class User:
    id: UUID
    email: str
    full_name: str
    role: str


@strawberry.type
class Account:
    id: UUID
    name: str
    currency: str
    status: AccountStatus
    balance: Money
    version: int
    owner_id: UUID
    opened_at: dt.datetime | None
    # The ledger balance less pending holds (issue #17).
    available_balance: Money | None = None

    @classmethod
    def of(cls, a: api.AccountResponse) -> Account:
        return cls(
            id=a.id,
            name=a.name,
            currency=a.currency,
            status=AccountStatus(a.status),
            balance=Money.of(a.balance),
            version=a.version,
            owner_id=a.owner_id,
            opened_at=a.opened_at,
            available_balance=Money.of(a.available_balance) if a.available_balance else None,
        )


@strawberry.type
class Balance:
    account_id: UUID
    balance: Money
    version: int
    available_balance: Money | None = None  # the ledger balance less pending holds


@strawberry.type
class Transaction:
    transaction_id: UUID
    account_id: UUID
    kind: TransactionKind
    amount: Money
    balance_after: Money
    counterparty_account_id: UUID | None
    description: str
    occurred_at: dt.datetime
    version: int

    @classmethod
    def of(cls, t: api.TransactionResponse) -> Transaction:
        return cls(
            transaction_id=t.transaction_id,
            account_id=t.account_id,
            kind=TransactionKind(t.kind),
            amount=Money.of(t.amount),
            balance_after=Money.of(t.balance_after),
            counterparty_account_id=t.counterparty_account_id,
            description=t.description,
            occurred_at=t.occurred_at,
            version=t.version,
        )


@strawberry.type
class TransactionEdge:
    cursor: str
    node: Transaction


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TransactionConnection:
    """Newest first; pass ``pageInfo.endCursor`` as ``after`` for the next page."""

    edges: list[TransactionEdge]
    page_info: PageInfo


@strawberry.type
class AnalyticsDay:
    day: dt.date
    money_in: MinorUnits
    money_out: MinorUnits
    count: int
    closing_balance: MinorUnits


@strawberry.type
class Analytics:
    account_id: UUID
    currency: str
    days: list[AnalyticsDay]
    total_in: MinorUnits
    total_out: MinorUnits
    count: int

    @classmethod
    def of(cls, a: api.AnalyticsResponse) -> Analytics:
        return cls(
            account_id=a.account_id,
            currency=a.currency,
            days=[
                AnalyticsDay(
                    day=d.day,
                    money_in=MinorUnits(d.money_in),
                    money_out=MinorUnits(d.money_out),
                    count=d.count,
                    closing_balance=MinorUnits(d.closing_balance),
                )
                for d in a.days
            ],
            total_in=MinorUnits(a.total_in),
            total_out=MinorUnits(a.total_out),
            count=a.count,
        )


@strawberry.type
class MoneyMovement:
    """A deposit or a withdrawal: the new balance and version of the account."""

    transaction_id: UUID
    balance: Money
    version: int
    replayed: bool


@strawberry.type
class Transfer:
    """The source account's new balance and version."""

    transfer_id: UUID
    balance: Money
    version: int
    replayed: bool


@strawberry.type
class BalanceChanged:
    account_id: UUID
    balance: Money
    version: int
    transaction: Transaction | None
    available_balance: Money | None = None  # the ledger balance less pending holds

    @classmethod
    def of(cls, m: messages.BalanceChanged) -> BalanceChanged:
        return cls(
            account_id=m.account_id,
            balance=Money.of(m.balance),
            version=m.version,
            transaction=Transaction.of(m.transaction) if m.transaction else None,
            available_balance=Money.of(m.available_balance) if m.available_balance else None,
        )


Description = Annotated[str, strawberry.argument(description="At most 140 characters")]
