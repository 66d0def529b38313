"""GraphQL types: views of the REST bodies in shared/ (converted, never re-decided)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated, Any, NewType
from uuid import UUID

import strawberry
from strawberry.types.scalar import ScalarDefinition

from shared import api, messages, standing_orders
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

    @classmethod
    def of_optional(cls, m: Any | None) -> Money | None:
        """``of``, where the answer may have no such amount."""
        return None if m is None else cls.of(m)


@strawberry.type
class User:
    id: UUID
    email: str
    full_name: str
    role: str
    can_deposit: bool = strawberry.field(
        default=True,
        description="Whether a deposit of yours is taken (a customer's is a development"
        " top-up, which a bank in production does not offer).",
    )
    two_step: bool = strawberry.field(
        default=False,
        description="Whether signing in also asks for a code from an authenticator app"
        " (set up over REST: POST /api/v1/me/two-step).",
    )
    recovery_codes_left: int = strawberry.field(
        default=0,
        description="Of the recovery codes of two-step sign-in (each signs in once"
        " instead of an app code), how many were not used; new ones over REST: POST"
        " /api/v1/me/two-step/recovery-codes.",
    )
    email_change_pending_to: str | None = strawberry.field(
        default=None,
        description="A new email address waiting for the code the bank sent to it (over"
        " REST: POST /api/v1/me/email, then /api/v1/me/email/confirm).",
    )


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
            available_balance=Money.of_optional(a.available_balance),
        )


@strawberry.type
class AccountName:
    account_id: UUID
    name: str
    version: int
    replayed: bool = False

    @classmethod
    def of(cls, a: api.AccountNameResponse, replayed: bool) -> AccountName:
        return cls(account_id=a.account_id, name=a.name, version=a.version, replayed=replayed)


def _minor(value: int | None) -> MinorUnits | None:
    return None if value is None else MinorUnits(value)


@strawberry.type(description="Minor units; null: none but the bank-wide maximum.")
class AccountLimits:
    account_id: UUID
    per_transaction: MinorUnits | None
    daily_outgoing: MinorUnits | None
    remaining_today: MinorUnits | None
    version: int
    bank_per_transaction: MinorUnits | None = strawberry.field(
        description="The most the bank takes in one payment from any account, whatever"
        " the account's own limit."
    )

    @classmethod
    def of(cls, a: api.AccountLimitsResponse) -> AccountLimits:
        return cls(
            account_id=a.account_id,
            per_transaction=_minor(a.per_transaction),
            daily_outgoing=_minor(a.daily_outgoing),
            remaining_today=_minor(a.remaining_today),
            version=a.version,
            bank_per_transaction=_minor(a.bank_per_transaction),
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
    counterparty_account_number: str | None = strawberry.field(
        description="The other account's number, for a transfer."
    )
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
            counterparty_account_number=t.counterparty_account_number,
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
    available_balance: Money | None = None  # the ledger balance less pending holds


@strawberry.type
class Transfer:
    """The source account's new balance and version."""

    transfer_id: UUID
    balance: Money
    version: int
    replayed: bool
    available_balance: Money | None = None  # the ledger balance less pending holds


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
            available_balance=Money.of_optional(m.available_balance),
        )


Description = Annotated[str, strawberry.argument(description="At most 140 characters")]


# --- holds (issue #17: two-phase transfers) ---------------------------------------


@strawberry.enum
class HoldStatus(Enum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


@strawberry.type
class Hold:
    """A hold command's answer (REST's HoldResponse): the hold and the account's balances
    after it (``balance`` the ledger, ``availableBalance`` less pending holds)."""

    hold_id: UUID
    account_id: UUID
    status: HoldStatus
    amount: Money
    expires_at: dt.datetime
    balance: Money
    available_balance: Money
    version: int
    posted_amount: Money | None
    to_account_id: UUID | None
    description: str
    replayed: bool

    @classmethod
    def of(cls, h: api.HoldResponse, replayed: bool) -> Hold:
        return cls(
            hold_id=h.hold_id,
            account_id=h.account_id,
            status=HoldStatus(h.status),
            amount=Money.of(h.amount),
            expires_at=h.expires_at,
            balance=Money.of(h.balance),
            available_balance=Money.of(h.available_balance),
            version=h.version,
            posted_amount=Money.of_optional(h.posted_amount),
            to_account_id=h.to_account_id,
            description=h.description,
            replayed=replayed,
        )


@strawberry.type
class PendingHold:
    hold_id: UUID
    account_id: UUID
    status: HoldStatus
    amount: Money
    description: str
    expires_at: dt.datetime
    to_account_id: UUID | None
    placed_at: dt.datetime | None

    @classmethod
    def of(cls, h: api.PendingHoldResponse) -> PendingHold:
        return cls(
            hold_id=h.hold_id,
            account_id=h.account_id,
            status=HoldStatus(h.status),
            amount=Money.of(h.amount),
            description=h.description,
            expires_at=h.expires_at,
            to_account_id=h.to_account_id,
            placed_at=h.placed_at,
        )


# --- payees (issue #17: confirmation of payee) ------------------------------------


@strawberry.enum
class NameMatch(Enum):
    """How the holder name typed compares with the holder's (never shown)."""

    MATCH = "match"
    CLOSE_MATCH = "close_match"
    NO_MATCH = "no_match"


@strawberry.type
class Payee:
    account_number: str
    nickname: str
    name_match: NameMatch

    @classmethod
    def of(cls, p: api.PayeeResponse) -> Payee:
        return cls(
            account_number=p.account_number,
            nickname=p.nickname,
            name_match=NameMatch(p.name_match),
        )


# --- standing orders (issue #17 item 4) -------------------------------------------


@strawberry.enum
class Frequency(Enum):
    ONCE = "once"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@strawberry.enum
class OrderStatus(Enum):
    ACTIVE = "active"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"


@strawberry.enum
class OccurrenceOutcome(Enum):
    PAID = "paid"
    REFUSED = "refused"


@strawberry.type
class Occurrence:
    """One due date of a standing order: paid (its transfer), or refused (the rule's code)."""

    index: int
    due_date: dt.date
    outcome: OccurrenceOutcome
    executed_at: dt.datetime
    transfer_id: UUID | None
    reason_code: str | None
    message: str | None

    @classmethod
    def of(cls, o: standing_orders.Occurrence) -> Occurrence:
        return cls(
            index=o.index,
            due_date=o.due_date,
            outcome=OccurrenceOutcome(o.outcome),
            executed_at=o.executed_at,
            transfer_id=o.transfer_id,
            reason_code=o.reason_code,
            message=o.message,
        )


@strawberry.type
class StandingOrder:
    id: UUID
    from_account_id: UUID
    to_account_id: UUID
    amount: MinorUnits
    currency: str | None
    description: str
    frequency: Frequency
    start_date: dt.date
    end_date: dt.date | None
    count: int | None
    status: OrderStatus
    next_due: dt.date | None
    refusals_in_row: int
    created_at: dt.datetime
    to_account_number: str | None = strawberry.field(
        description="The destination's account number, in groups of four."
    )
    payments_left: int | None = strawberry.field(
        description="How many payments it will still make: 0 once it pays no more; null"
        " while suspended."
    )

    @staticmethod
    def fields_of(o: standing_orders.StandingOrderResponse) -> dict[str, Any]:
        return {
            "id": o.id,
            "from_account_id": o.from_account_id,
            "to_account_id": o.to_account_id,
            "amount": MinorUnits(o.amount),
            "currency": o.currency,
            "description": o.description,
            "frequency": Frequency(o.frequency),
            "start_date": o.start_date,
            "end_date": o.end_date,
            "count": o.count,
            "status": OrderStatus(o.status),
            "next_due": o.next_due,
            "refusals_in_row": o.refusals_in_row,
            "created_at": o.created_at,
            "to_account_number": o.to_account_number,
            "payments_left": o.payments_left,
        }

    @classmethod
    def of(cls, o: standing_orders.StandingOrderResponse) -> StandingOrder:
        return cls(**cls.fields_of(o))


@strawberry.type
class StandingOrderDetail(StandingOrder):
    """A standing order with every occurrence so far (paid or refused), oldest first."""

    occurrences: list[Occurrence]

    @classmethod
    def detail_of(cls, o: standing_orders.StandingOrderResponse) -> StandingOrderDetail:
        return cls(
            **StandingOrder.fields_of(o), occurrences=[Occurrence.of(x) for x in o.occurrences]
        )
