"""Holds (issue #17): TigerBeetle's two-phase transfers on the account stream.

A hold reserves money: the available balance drops, the ledger balance does not.
A pending hold ends exactly one way: posted (in full or for less, never more: the
ledger postings are written then), voided, or expired after its timeout. After the
timeout it can only expire (as TigerBeetle refuses to post or void an expired
pending transfer). Daily outgoing limits count a hold when it is placed, as card
networks count an authorisation; a void, an expiry or a post for less on the same
business day gives the unused part back (see Account.apply).

Pure: the time (``now``) and the ids come in with the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from server.domain import errors
from shared.events import (
    FundsHeld,
    HoldReleased,
    HoldReleaseReason,
    MoneyTransferredIn,
    MoneyTransferredOut,
    MoneyWithdrawn,
    TransferCompleted,
)
from shared.money import money_text

if TYPE_CHECKING:  # account.py imports this module; the aggregate is only a type here
    from server.domain.account import Account

MIN_TIMEOUT_SECONDS = 1


@dataclass(frozen=True, slots=True)
class PendingHold:
    hold_id: UUID
    amount: int
    currency: str
    description: str
    expires_at: datetime
    to_account_id: UUID | None
    booked_on: date | None

    @classmethod
    def placed(cls, event: FundsHeld) -> PendingHold:
        return cls(
            hold_id=event.hold_id,
            amount=event.amount,
            currency=event.currency,
            description=event.description,
            expires_at=event.expires_at,
            to_account_id=event.to_account_id,
            booked_on=event.booked_on,
        )

    def expired_at(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class Posting:
    """What posting a hold appends: the release on the source, then the ledger
    postings (a withdrawal, or both legs of a transfer and its completion)."""

    released: HoldReleased
    debit: MoneyWithdrawn | MoneyTransferredOut
    credit: MoneyTransferredIn | None = None
    completed: TransferCompleted | None = None


def check_timeout(seconds: int, maximum: int) -> None:
    if not MIN_TIMEOUT_SECONDS <= seconds <= maximum:
        raise errors.InvalidHoldTimeoutError(
            f"A hold expires after {MIN_TIMEOUT_SECONDS} to {maximum} seconds; {seconds} was asked."
        )


def check_destination(source: Account, target: Account) -> None:
    if source.id == target.id:
        raise errors.SameAccountTransferError("A hold cannot pay into its own account.")
    target.check_can_receive()
    if target.currency != source.currency:
        raise errors.CurrencyMismatchError(
            f"The destination account holds {target.currency}; the source holds {source.currency}."
        )


def hold_funds(
    account: Account,
    *,
    hold_id: UUID,
    amount: int,
    currency: str,
    description: str,
    expires_at: datetime,
    now: datetime,
    limit: int,
    destination: Account | None = None,
    booked_on: date | None = None,
) -> FundsHeld:
    """Place a hold: the same checks as a withdrawal or transfer, on the available balance."""
    account.check_can_debit()
    account.check_amount(amount, currency, limit)
    if destination is not None:
        check_destination(account, destination)
    if expires_at <= now:
        raise errors.InvalidHoldTimeoutError("A hold must expire in the future.")
    if account.find_hold(hold_id) is not None:
        raise errors.HoldNotPendingError("A hold with this id is pending already.")
    account.check_within_outgoing_limits(amount, booked_on)
    account.check_has_sufficient_funds(amount)
    return FundsHeld(
        account_id=account.id,
        hold_id=hold_id,
        amount=amount,
        currency=account.currency,
        description=description,
        expires_at=expires_at,
        to_account_id=destination.id if destination is not None else None,
        available_after=account.available - amount,
        booked_on=booked_on,
    )


def _release(account: Account, hold: PendingHold, reason: HoldReleaseReason) -> HoldReleased:
    return HoldReleased(
        account_id=account.id,
        hold_id=hold.hold_id,
        amount=hold.amount,
        reason=reason,
        available_after=account.available + hold.amount,
    )


def _live_hold(account: Account, hold_id: UUID, now: datetime, what: str) -> PendingHold:
    hold = account.pending_hold(hold_id)
    if hold.expired_at(now):
        raise errors.HoldExpiredError(
            f"The hold expired at {hold.expires_at.isoformat()} and can no longer be {what};"
            " the bank's next sweep of expired holds (within a minute) makes its amount"
            " available again."
        )
    return hold


def post_hold(
    account: Account,
    *,
    hold_id: UUID,
    amount: int | None,
    now: datetime,
    destination: Account | None = None,
) -> Posting:
    """Post a pending hold in full (``amount`` None) or for less; the whole hold is
    released either way. Money leaves the account: not from a frozen one."""
    hold = _live_hold(account, hold_id, now, "posted")
    account.check_can_debit()
    posted = hold.amount if amount is None else amount
    if posted <= 0:
        raise errors.InvalidAmountError("The amount must be greater than zero.")
    if posted > hold.amount:
        raise errors.PostExceedsHoldError(
            f"A hold of {money_text(hold.amount, account.currency)} can be posted for at most"
            f" that; {money_text(posted, account.currency)} asked."
        )
    released = _release(account, hold, "posted")
    after = account.apply(released)
    # The day's tally: the hold counted when placed; the release gave it back if that
    # day is still the tally's, and then the posting counts on that day again.
    day = hold.booked_on if hold.booked_on is not None and hold.booked_on == after.day else None
    if hold.to_account_id is None:
        withdrawn = MoneyWithdrawn(
            account_id=account.id,
            transaction_id=hold.hold_id,
            amount=posted,
            currency=account.currency,
            balance_after=after.balance - posted,
            description=hold.description,
            booked_on=day,
        )
        return Posting(released=released, debit=withdrawn)
    if destination is None or destination.id != hold.to_account_id:
        raise ValueError("the hold's destination account must be given to post it")
    destination.check_can_receive()
    destination.check_balance_fits(posted)
    return Posting(
        released=released,
        debit=MoneyTransferredOut(
            account_id=account.id,
            transfer_id=hold.hold_id,
            to_account_id=destination.id,
            amount=posted,
            currency=account.currency,
            balance_after=after.balance - posted,
            description=hold.description,
            booked_on=day,
        ),
        credit=MoneyTransferredIn(
            account_id=destination.id,
            transfer_id=hold.hold_id,
            from_account_id=account.id,
            amount=posted,
            currency=destination.currency,
            balance_after=destination.balance + posted,
            description=hold.description,
        ),
        completed=TransferCompleted(
            transfer_id=hold.hold_id,
            from_account_id=account.id,
            to_account_id=destination.id,
            amount=posted,
            currency=account.currency,
            description=hold.description,
        ),
    )


def void_hold(account: Account, *, hold_id: UUID, now: datetime) -> HoldReleased:
    """Release a pending hold without moving money (a frozen account may be voided)."""
    return _release(account, _live_hold(account, hold_id, now, "voided"), "voided")


def expire_hold(account: Account, *, hold_id: UUID, now: datetime) -> HoldReleased:
    """Release a pending hold whose timeout has passed (the scheduler's sweep)."""
    hold = account.pending_hold(hold_id)
    if not hold.expired_at(now):
        raise errors.HoldNotExpiredError(
            f"The hold expires at {hold.expires_at.isoformat()}, not yet at {now.isoformat()}."
        )
    return _release(account, hold, "expired")
