"""Holds on the Account aggregate (issue #17): what a card payment or a pending
transfer reserves, and how it ends - posted (in full or for less), voided, expired."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from server.domain import errors
from server.domain.account import Account, open_account
from server.domain.holds import check_timeout, expire_hold, hold_funds, post_hold, void_hold
from shared.events import (
    FundsHeld,
    HoldReleased,
    MoneyTransferredIn,
    MoneyTransferredOut,
    MoneyWithdrawn,
)

LIMIT = 1_000_000_00
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
LATER = NOW + timedelta(hours=1)


def account(balance: int = 0, *, currency: str = "EUR", daily: int | None = None) -> Account:
    acc = Account.opened(
        open_account(
            account_id=uuid.uuid4(),
            owner_id=uuid.uuid4(),
            name="Everyday",
            currency=currency,
            daily_outgoing_limit=daily,
        )
    )
    if balance:
        acc = acc.apply(
            acc.deposit(
                amount=balance,
                currency=currency,
                transaction_id=uuid.uuid4(),
                description="",
                limit=LIMIT,
            )
        )
    return acc


def hold(
    acc: Account,
    amount: int,
    *,
    to: Account | None = None,
    expires_at: datetime = LATER,
    day: date | None = TODAY,
) -> FundsHeld:
    return hold_funds(
        acc,
        hold_id=uuid.uuid4(),
        amount=amount,
        currency=acc.currency,
        description="Coffee",
        expires_at=expires_at,
        now=NOW,
        limit=LIMIT,
        destination=to,
        booked_on=day,
    )


def test_a_hold_lowers_the_available_balance_not_the_ledger() -> None:
    acc = account(10_000)
    placed = hold(acc, 2_500)
    after = acc.apply(placed)
    assert (after.balance, after.available, after.held) == (10_000, 7_500, 2_500)
    assert placed.available_after == 7_500 and after.version == acc.version + 1


def test_spending_is_checked_against_the_available_balance() -> None:
    acc = account(10_000)
    acc = acc.apply(hold(acc, 8_000))
    with pytest.raises(errors.InsufficientFundsError, match=r"\(80\.00 EUR is held\)"):
        acc.withdraw(
            amount=2_001, currency="EUR", transaction_id=uuid.uuid4(), description="", limit=LIMIT
        )
    with pytest.raises(errors.InsufficientFundsError):
        hold(acc, 2_001)
    acc.apply(hold(acc, 2_000))  # exactly what is available is fine


def test_posting_for_less_releases_the_whole_hold_and_debits_what_was_posted() -> None:
    acc = account(10_000)
    placed = hold(acc, 3_000)
    acc = acc.apply(placed)
    posting = post_hold(acc, hold_id=placed.hold_id, amount=2_200, now=NOW)
    assert posting.released == HoldReleased(
        account_id=acc.id,
        hold_id=placed.hold_id,
        amount=3_000,
        reason="posted",
        available_after=10_000,
    )
    assert isinstance(posting.debit, MoneyWithdrawn)
    assert posting.debit.transaction_id == placed.hold_id and posting.debit.amount == 2_200
    after = acc.apply(posting.released).apply(posting.debit)
    assert (after.balance, after.available, after.held, after.holds) == (7_800, 7_800, 0, ())
    assert posting.debit.balance_after == 7_800


def test_posting_in_full_by_default_and_never_for_more() -> None:
    acc = account(10_000)
    placed = hold(acc, 3_000)
    acc = acc.apply(placed)
    with pytest.raises(errors.PostExceedsHoldError, match="of 30.00 EUR .*; 30.01 EUR asked"):
        post_hold(acc, hold_id=placed.hold_id, amount=3_001, now=NOW)
    posting = post_hold(acc, hold_id=placed.hold_id, amount=None, now=NOW)
    assert posting.debit.amount == 3_000


def test_a_hold_is_released_once_only() -> None:
    acc = account(10_000)
    placed = hold(acc, 3_000)
    acc = acc.apply(placed)
    voided = void_hold(acc, hold_id=placed.hold_id, now=NOW)
    assert voided.reason == "voided" and voided.available_after == 10_000
    acc = acc.apply(voided)
    assert (acc.available, acc.balance) == (10_000, 10_000)
    for release in (
        lambda: void_hold(acc, hold_id=placed.hold_id, now=NOW),
        lambda: post_hold(acc, hold_id=placed.hold_id, amount=None, now=NOW),
        lambda: expire_hold(acc, hold_id=placed.hold_id, now=LATER),
    ):
        with pytest.raises(errors.HoldNotPendingError):
            release()


def test_after_its_timeout_a_hold_can_only_expire() -> None:
    acc = account(10_000)
    placed = hold(acc, 3_000)
    acc = acc.apply(placed)
    with pytest.raises(errors.HoldNotExpiredError):
        expire_hold(acc, hold_id=placed.hold_id, now=LATER - timedelta(seconds=1))
    # Until the sweep releases it the amount is still held: the words do not say otherwise.
    with pytest.raises(errors.HoldExpiredError, match="next sweep of expired holds"):
        post_hold(acc, hold_id=placed.hold_id, amount=None, now=LATER)
    with pytest.raises(errors.HoldExpiredError):
        void_hold(acc, hold_id=placed.hold_id, now=LATER)
    expired = expire_hold(acc, hold_id=placed.hold_id, now=LATER)
    assert expired.reason == "expired" and acc.apply(expired).available == 10_000


def test_a_pending_transfer_posts_both_legs_under_the_hold_id() -> None:
    source, target = account(10_000), account(500)
    placed = hold(source, 4_000, to=target)
    assert placed.to_account_id == target.id
    source = source.apply(placed)
    posting = post_hold(source, hold_id=placed.hold_id, amount=1_000, now=NOW, destination=target)
    assert isinstance(posting.debit, MoneyTransferredOut)
    assert isinstance(posting.credit, MoneyTransferredIn)
    assert posting.completed is not None and posting.completed.transfer_id == placed.hold_id
    assert posting.debit.transfer_id == posting.credit.transfer_id == placed.hold_id
    assert target.apply(posting.credit).balance == 1_500
    assert source.apply(posting.released).apply(posting.debit).available == 9_000


def test_a_pending_transfer_needs_a_usable_destination() -> None:
    source = account(10_000)
    with pytest.raises(errors.SameAccountTransferError):
        hold(source, 100, to=source)
    with pytest.raises(errors.CurrencyMismatchError):
        hold(source, 100, to=account(currency="USD"))


def test_daily_limit_counts_a_hold_when_placed_and_gives_back_what_was_not_spent() -> None:
    acc = account(100_000, daily=10_000)
    placed = hold(acc, 6_000)
    acc = acc.apply(placed)
    assert acc.remaining_today(TODAY) == 4_000
    with pytest.raises(errors.DailyLimitExceededError):
        hold(acc, 4_001)
    posting = post_hold(acc, hold_id=placed.hold_id, amount=2_500, now=NOW)
    acc = acc.apply(posting.released).apply(posting.debit)
    assert acc.remaining_today(TODAY) == 7_500  # only what was posted counts
    other = hold(acc, 7_500)
    acc = acc.apply(other).apply(void_hold(acc.apply(other), hold_id=other.hold_id, now=NOW))
    assert acc.remaining_today(TODAY) == 7_500


def test_a_hold_posted_on_a_later_day_counts_on_the_day_it_was_placed() -> None:
    acc = account(100_000, daily=10_000)
    placed = hold(acc, 6_000)
    acc = acc.apply(placed)
    tomorrow = TODAY + timedelta(days=1)
    acc = acc.apply(
        acc.withdraw(
            amount=1_000,
            currency="EUR",
            transaction_id=uuid.uuid4(),
            description="",
            limit=LIMIT,
            booked_on=tomorrow,
        )
    )
    posting = post_hold(acc, hold_id=placed.hold_id, amount=None, now=NOW)
    assert posting.debit.booked_on is None  # its day is over; it counted then
    acc = acc.apply(posting.released).apply(posting.debit)
    assert acc.remaining_today(tomorrow) == 9_000


def test_frozen_account_cannot_post_or_hold_but_can_void() -> None:
    acc = account(10_000)
    placed = hold(acc, 1_000)
    acc = acc.apply(placed)
    frozen = acc.apply(acc.freeze("fraud check"))
    with pytest.raises(errors.AccountFrozenError):
        post_hold(frozen, hold_id=placed.hold_id, amount=None, now=NOW)
    with pytest.raises(errors.AccountFrozenError):
        hold(frozen, 100)
    assert frozen.apply(void_hold(frozen, hold_id=placed.hold_id, now=NOW)).available == 10_000


def test_an_account_with_pending_holds_cannot_be_closed() -> None:
    # A zero balance with a hold covered by the overdraft: closing is refused for the hold.
    acc = Account.opened(
        open_account(
            account_id=uuid.uuid4(),
            owner_id=uuid.uuid4(),
            name="Card",
            currency="EUR",
            overdraft_limit=500,
        )
    )
    placed = hold(acc, 300)
    acc = acc.apply(placed)
    with pytest.raises(errors.AccountHasPendingHoldsError, match="has 1 pending hold;"):
        acc.close()
    acc = acc.apply(void_hold(acc, hold_id=placed.hold_id, now=NOW))
    assert acc.apply(acc.close()).status == "closed"


def test_timeouts_are_bounded() -> None:
    check_timeout(1, 3600)
    check_timeout(3600, 3600)
    for bad in (0, -5, 3601):
        with pytest.raises(errors.InvalidHoldTimeoutError):
            check_timeout(bad, 3600)
    with pytest.raises(errors.InvalidHoldTimeoutError):
        hold(account(100), 10, expires_at=NOW)
