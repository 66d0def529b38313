"""A statement from the postings of one account in one month; pure.

The postings are the four ledger events (MoneyDeposited, MoneyWithdrawn,
MoneyTransferredOut, MoneyTransferredIn). Anything else on the account stream
(freezes, limits, holds) is not a posting and is passed over. Each line's running
balance is the opening balance plus the signed amounts so far, and must equal the
``balance_after`` the posting recorded: a statement that would not reconcile with the
ledger is refused, never issued.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from server.readmodel.postings import KIND_BY_EVENT, counterparty_of
from server.statements.errors import StatementDoesNotReconcileError
from server.statements.period import Period
from shared.api import TransactionKind
from shared.events import (
    BALANCE_EVENT_TYPES,
    AnyEvent,
    BalanceEvent,
    MoneyDeposited,
    MoneyTransferredIn,
)
from shared.money import format_minor


@dataclass(frozen=True, slots=True)
class AccountHeader:
    account_id: UUID
    name: str
    account_number: str  # formatted in groups, as people read it out
    currency: str
    holder: str  # the owner's full name


@dataclass(frozen=True, slots=True)
class StatementLine:
    booked_at: datetime  # when the event store recorded the posting (UTC)
    kind: TransactionKind
    description: str
    counterparty: str  # the other account's number for a transfer, else ""
    amount: int  # signed minor units: money in > 0, money out < 0
    balance: int  # the running balance after this line


@dataclass(frozen=True, slots=True)
class Statement:
    account: AccountHeader
    period: Period
    opening_balance: int
    lines: tuple[StatementLine, ...]
    money_in: int
    money_out: int  # a positive count of minor units
    closing_balance: int

    @property
    def count(self) -> int:
        return len(self.lines)


def major_units(amount: int, currency: str) -> str:
    """Minor units in major units per the currency's exponent, no grouping:
    1234 EUR -> '12.34', -5 KWD -> '-0.005', 1200 JPY -> '1200'."""
    return format_minor(amount, currency).replace(",", "")


def signed_amount(posting: BalanceEvent) -> int:
    if isinstance(posting, MoneyDeposited | MoneyTransferredIn):
        return posting.amount
    return -posting.amount


def counterparties(events: Iterable[AnyEvent]) -> set[UUID]:
    """The other accounts of the transfers among ``events`` (to look their numbers up)."""
    found = (counterparty_of(e) for e in events if isinstance(e, BALANCE_EVENT_TYPES))
    return {c for c in found if c is not None}


def build_statement(
    account: AccountHeader,
    period: Period,
    opening_balance: int,
    events: Iterable[tuple[datetime, AnyEvent]],
    account_numbers: Mapping[UUID, str],
) -> Statement:
    """``events``: the account stream's events recorded in the period, in stream order,
    each with the time it was recorded; ``account_numbers``: the counterparties'."""
    balance = opening_balance
    lines: list[StatementLine] = []
    for booked_at, event in events:
        if not isinstance(event, BALANCE_EVENT_TYPES):
            continue  # not a posting: no money moved on the ledger
        amount = signed_amount(event)
        balance += amount
        if balance != event.balance_after:
            raise StatementDoesNotReconcileError(
                f"account {account.account_id}: running balance {balance} after a"
                f" {type(event).__name__} recorded at {booked_at.isoformat()}, but the posting"
                f" says {event.balance_after}"
            )
        other = counterparty_of(event)
        lines.append(
            StatementLine(
                booked_at=booked_at,
                kind=KIND_BY_EVENT[type(event)],
                description=event.description,
                counterparty=account_numbers.get(other, str(other)) if other else "",
                amount=amount,
                balance=balance,
            )
        )
    return Statement(
        account=account,
        period=period,
        opening_balance=opening_balance,
        lines=tuple(lines),
        money_in=sum(line.amount for line in lines if line.amount > 0),
        money_out=-sum(line.amount for line in lines if line.amount < 0),
        closing_balance=balance,
    )
