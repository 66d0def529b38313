"""The Account aggregate: state folded from its events, and the rules that
decide each command. Pure: no I/O, no clock, no randomness (ids come in)."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

import msgspec

from server.domain import errors
from server.domain.holds import PendingHold
from shared.events import (
    DEPOSIT_SOURCE_DEV_TOP_UP,
    AccountClosed,
    AccountEvent,
    AccountFrozen,
    AccountLimitsChanged,
    AccountOpened,
    AccountRenamed,
    AccountUnfrozen,
    FundsHeld,
    HoldReleased,
    MoneyDeposited,
    MoneyTransferredIn,
    MoneyTransferredOut,
    MoneyWithdrawn,
    TransferCompleted,
)
from shared.money import CURRENCY_EXPONENTS, INT64_MAX, money_text
from shared.words import counted

Status = Literal["active", "frozen", "closed"]
_with = msgspec.structs.replace
_STATUS_AFTER: dict[type, Status] = {
    AccountFrozen: "frozen",
    AccountUnfrozen: "active",
    AccountClosed: "closed",
}


class Account(msgspec.Struct, frozen=True):
    """An account's state. A frozen struct: ``_with`` copies it with changes in C, where
    ``dataclasses.replace`` cost ~5 µs a copy (docs/adr/0330-states-as-frozen-structs.md)."""

    id: UUID
    owner_id: UUID
    name: str
    currency: str
    status: Status = "active"
    balance: int = 0
    overdraft_limit: int = 0
    version: int = 0
    # Daily tallies (issue #17) for the UTC business day ``day``: dev top-ups received.
    day: date | None = None
    topped_up_today: int = 0
    paid_out_today: int = 0  # withdrawals and transfers out on ``day``
    # Outgoing limits (None: none but the bank-wide maximum); see server/domain/limits.py.
    per_transaction_limit: int | None = None
    daily_outgoing_limit: int | None = None
    # Pending holds (server/domain/holds.py): available = balance - held.
    holds: tuple[PendingHold, ...] = ()

    # --- state ---------------------------------------------------------------

    @classmethod
    def from_events(cls, events: list[AccountEvent]) -> Account:
        first = events[0]
        if not isinstance(first, AccountOpened):
            raise ValueError("an account stream starts with AccountOpened")
        account = cls.opened(first)
        for event in events[1:]:
            account = account.apply(event)
        return account

    @classmethod
    def opened(cls, event: AccountOpened) -> Account:
        return cls(
            id=event.account_id,
            owner_id=event.owner_id,
            name=event.name,
            currency=event.currency,
            overdraft_limit=event.overdraft_limit,
            per_transaction_limit=event.per_transaction_limit,
            daily_outgoing_limit=event.daily_outgoing_limit,
            version=1,
        )

    def apply(self, event: AccountEvent) -> Account:
        """The state after ``event``; version counts events in the stream."""
        v = self.version + 1
        if isinstance(event, MoneyDeposited) and event.booked_on is not None:
            return self._deposited_on(event, event.booked_on, v)
        if isinstance(event, MoneyWithdrawn | MoneyTransferredOut) and event.booked_on:
            today = self._on_day(event.booked_on)
            return _with(
                today,
                balance=self.balance - event.amount,
                version=v,
                paid_out_today=today.paid_out_today + event.amount,
            )
        if isinstance(event, FundsHeld):
            return self._held(event, v)
        if isinstance(event, HoldReleased):
            return self._released(event, v)
        if (status := _STATUS_AFTER.get(type(event))) is not None:
            return _with(self, status=status, version=v)
        if isinstance(event, AccountRenamed):
            return _with(self, name=event.name, version=v)
        if isinstance(event, AccountLimitsChanged):
            return _with(
                self,
                per_transaction_limit=event.per_transaction_limit,
                daily_outgoing_limit=event.daily_outgoing_limit,
                version=v,
            )
        if isinstance(event, MoneyDeposited | MoneyTransferredIn):
            return _with(self, balance=self.balance + event.amount, version=v)
        if isinstance(event, MoneyWithdrawn | MoneyTransferredOut):
            return _with(self, balance=self.balance - event.amount, version=v)
        raise ValueError(f"unexpected event on an account stream: {type(event).__name__}")

    def _on_day(self, day: date) -> Account:
        """The same state with its daily tallies for ``day`` (reset on a new day)."""
        if self.day == day:
            return self
        return _with(self, day=day, topped_up_today=0, paid_out_today=0)

    def _deposited_on(self, event: MoneyDeposited, day: date, version: int) -> Account:
        today = self._on_day(day)
        topped = event.amount if event.source == DEPOSIT_SOURCE_DEV_TOP_UP else 0
        return _with(
            today,
            balance=self.balance + event.amount,
            version=version,
            topped_up_today=today.topped_up_today + topped,
        )

    def _held(self, event: FundsHeld, version: int) -> Account:
        state = self._on_day(event.booked_on) if event.booked_on is not None else self
        counted = event.amount if event.booked_on is not None else 0
        return _with(
            state,
            holds=(*self.holds, PendingHold.placed(event)),
            paid_out_today=state.paid_out_today + counted,
            version=version,
        )

    def _released(self, event: HoldReleased, version: int) -> Account:
        hold = self.find_hold(event.hold_id)
        if hold is None:
            raise ValueError(f"hold {event.hold_id} released but not pending")
        # The hold counted on its day's outgoing tally; give it back while that day
        # is still the tally's (a posting then counts what it really paid).
        back = hold.amount if hold.booked_on is not None and hold.booked_on == self.day else 0
        return _with(
            self,
            holds=tuple(h for h in self.holds if h.hold_id != event.hold_id),
            paid_out_today=max(self.paid_out_today - back, 0),
            version=version,
        )

    @property
    def held(self) -> int:
        """What the pending holds reserve."""
        return sum(h.amount for h in self.holds)

    @property
    def available(self) -> int:
        """The ledger balance less what pending holds reserve."""
        return self.balance - self.held

    def find_hold(self, hold_id: UUID) -> PendingHold | None:
        return next((h for h in self.holds if h.hold_id == hold_id), None)

    def pending_hold(self, hold_id: UUID) -> PendingHold:
        hold = self.find_hold(hold_id)
        if hold is None:
            raise errors.HoldNotPendingError(
                "No pending hold with this id on this account: it was posted, voided or"
                " expired already, or never placed here."
            )
        return hold

    def paid_out_on(self, day: date) -> int:
        """Withdrawals and transfers out on ``day`` (for the daily outgoing limit)."""
        return self.paid_out_today if self.day == day else 0

    def topped_up_on(self, day: date) -> int:
        """Development top-ups received on ``day``."""
        return self.topped_up_today if self.day == day else 0

    # --- rules ---------------------------------------------------------------

    def check_amount(self, amount: int, currency: str, limit: int) -> None:
        if amount <= 0:
            raise errors.InvalidAmountError("The amount must be greater than zero.")
        if amount > limit:
            raise errors.AmountLimitExceededError(
                "The amount exceeds the per-transaction limit of"
                f" {money_text(limit, self.currency)}."
            )
        self.check_currency(currency)

    def check_currency(self, currency: str) -> None:
        if currency != self.currency:
            raise errors.CurrencyMismatchError(
                f"This account holds {self.currency}; the amount is in {currency}."
            )

    def check_not_closed(self) -> None:
        if self.status == "closed":
            raise errors.AccountClosedError("The account is closed and accepts no movements.")

    def check_can_receive(self) -> None:
        """The other end of a payment: the payer must learn which account refused."""
        if self.status == "closed":
            raise errors.AccountClosedError(
                "The destination account is closed and accepts no payments."
            )

    def check_can_debit(self) -> None:
        self.check_not_closed()
        if self.status == "frozen":
            raise errors.AccountFrozenError("The account is frozen: no money can leave it.")

    def check_has_sufficient_funds(self, amount: int) -> None:
        """On the available balance: money held for pending holds is not spendable."""
        if self.available - amount < -self.overdraft_limit:
            held = f" ({money_text(self.held, self.currency)} is held)" if self.held else ""
            raise errors.InsufficientFundsError(
                f"Insufficient funds: the available balance{held} cannot cover this amount."
            )

    def remaining_today(self, day: date | None) -> int | None:
        """What may still leave the account on ``day`` under its daily limit."""
        if self.daily_outgoing_limit is None:
            return None
        spent = self.paid_out_on(day) if day is not None else 0
        return max(self.daily_outgoing_limit - spent, 0)

    def check_within_transaction_limit(self, amount: int, day: date | None) -> None:
        if self.per_transaction_limit is not None and amount > self.per_transaction_limit:
            raise errors.TransactionLimitExceededError(
                "This account allows at most"
                f" {money_text(self.per_transaction_limit, self.currency)} per payment.",
                self.remaining_today(day),
            )

    def check_within_daily_limit(self, amount: int, day: date | None) -> None:
        limit, left = self.daily_outgoing_limit, self.remaining_today(day)
        if limit is not None and left is not None and amount > left:
            raise errors.DailyLimitExceededError(
                f"This account's daily outgoing limit is {money_text(limit, self.currency)};"
                f" {money_text(left, self.currency)} is left today.",
                left,
            )

    def check_within_outgoing_limits(self, amount: int, day: date | None) -> None:
        self.check_within_transaction_limit(amount, day)
        self.check_within_daily_limit(amount, day)

    def check_balance_fits(self, amount: int) -> None:
        if self.balance + amount > INT64_MAX:
            raise errors.AmountLimitExceededError(
                "The balance would exceed the largest amount held."
            )

    # --- decisions -----------------------------------------------------------

    def deposit(
        self,
        *,
        amount: int,
        currency: str,
        transaction_id: UUID,
        description: str,
        limit: int,
        source: str = "",
        booked_on: date | None = None,
    ) -> MoneyDeposited:
        self.check_not_closed()
        self.check_amount(amount, currency, limit)
        self.check_balance_fits(amount)
        return MoneyDeposited(
            account_id=self.id,
            transaction_id=transaction_id,
            amount=amount,
            currency=currency,
            description=description,
            balance_after=self.balance + amount,
            source=source,
            booked_on=booked_on,
        )

    def withdraw(
        self,
        *,
        amount: int,
        currency: str,
        transaction_id: UUID,
        description: str,
        limit: int,
        booked_on: date | None = None,
    ) -> MoneyWithdrawn:
        self.check_can_debit()
        self.check_amount(amount, currency, limit)
        self.check_within_outgoing_limits(amount, booked_on)
        self.check_has_sufficient_funds(amount)
        return MoneyWithdrawn(
            account_id=self.id,
            transaction_id=transaction_id,
            amount=amount,
            currency=currency,
            description=description,
            balance_after=self.balance - amount,
            booked_on=booked_on,
        )

    def freeze(self, reason: str) -> AccountFrozen:
        self.check_not_closed()
        if self.status == "frozen":
            raise errors.AccountAlreadyFrozenError("The account is already frozen.")
        return AccountFrozen(account_id=self.id, reason=reason)

    def unfreeze(self) -> AccountUnfrozen:
        self.check_not_closed()
        if self.status != "frozen":
            raise errors.AccountNotFrozenError("The account is not frozen.")
        return AccountUnfrozen(account_id=self.id)

    def rename(self, name: str) -> AccountRenamed | None:
        """The event that gives the account ``name``; None if it is called that already.
        A closed account keeps the name it closed with."""
        self.check_not_closed()
        name = name.strip()
        return None if name == self.name else AccountRenamed(account_id=self.id, name=name)

    def close(self) -> AccountClosed:
        self.check_not_closed()
        if self.holds:
            raise errors.AccountHasPendingHoldsError(
                f"The account has {counted(len(self.holds), 'pending hold')}; post or void them"
                " first."
            )
        if self.balance != 0:
            raise errors.AccountNotEmptyError(
                "Only an account with a zero balance can be closed; move the money first."
            )
        return AccountClosed(account_id=self.id)


def open_account(
    *,
    account_id: UUID,
    owner_id: UUID,
    name: str,
    currency: str,
    overdraft_limit: int = 0,
    per_transaction_limit: int | None = None,
    daily_outgoing_limit: int | None = None,
    open_accounts: int = 0,
    most_open_accounts: int | None = None,
) -> AccountOpened:
    """``open_accounts``: how many accounts the owner holds that are not closed;
    ``most_open_accounts``: how many one customer may hold (None: no cap)."""
    if most_open_accounts is not None and open_accounts >= most_open_accounts:
        raise errors.TooManyAccountsError(
            f"You hold {counted(open_accounts, 'open account')}, the most one customer may;"
            " close one you no longer use to open another."
        )
    if currency not in CURRENCY_EXPONENTS:
        raise errors.UnsupportedCurrencyError(
            f"{currency} is not offered; choose one of {', '.join(sorted(CURRENCY_EXPONENTS))}."
        )
    if overdraft_limit < 0:
        raise errors.InvalidAmountError("The overdraft limit cannot be negative.")
    return AccountOpened(
        account_id=account_id,
        owner_id=owner_id,
        name=name.strip(),
        currency=currency,
        overdraft_limit=overdraft_limit,
        per_transaction_limit=per_transaction_limit,
        daily_outgoing_limit=daily_outgoing_limit,
    )


def check_two_accounts(source_id: UUID, target_id: UUID) -> None:
    """A transfer (and a standing order's) moves money between two different accounts."""
    if source_id == target_id:
        raise errors.SameAccountTransferError("Choose two different accounts for a transfer.")


def check_same_currency(source: Account, target: Account) -> None:
    if target.currency != source.currency:
        raise errors.CurrencyMismatchError(
            f"The destination account holds {target.currency}; the source holds {source.currency}."
        )


def check_standing_transfer(
    source: Account, target: Account, amount: int, currency: str | None, limit: int
) -> None:
    """What would refuse a standing order's transfer on every due date, checked when the
    order is made (balances, an account's own limits and a freeze may change until then;
    these do not): the transfer's own rules on the two accounts, a closed one, the
    amount against the bank's per-transaction limit, and the currencies."""
    check_two_accounts(source.id, target.id)
    source.check_not_closed()
    target.check_can_receive()
    source.check_amount(amount, currency or source.currency, limit)
    check_same_currency(source, target)


def transfer(
    *,
    source: Account,
    target: Account,
    amount: int,
    transfer_id: UUID,
    description: str,
    limit: int,
    currency: str | None = None,
    booked_on: date | None = None,
) -> tuple[MoneyTransferredOut, MoneyTransferredIn, TransferCompleted]:
    """Decide a transfer between two accounts: both legs, or a domain error.
    ``currency`` is the one the customer named (None: the source account's)."""
    check_two_accounts(source.id, target.id)
    source.check_can_debit()
    target.check_can_receive()
    source.check_amount(amount, currency or source.currency, limit)
    check_same_currency(source, target)
    source.check_within_outgoing_limits(amount, booked_on)
    source.check_has_sufficient_funds(amount)
    target.check_balance_fits(amount)
    out = MoneyTransferredOut(
        account_id=source.id,
        transfer_id=transfer_id,
        to_account_id=target.id,
        amount=amount,
        currency=source.currency,
        description=description,
        balance_after=source.balance - amount,
        booked_on=booked_on,
    )
    into = MoneyTransferredIn(
        account_id=target.id,
        transfer_id=transfer_id,
        from_account_id=source.id,
        amount=amount,
        currency=target.currency,
        description=description,
        balance_after=target.balance + amount,
    )
    completed = TransferCompleted(
        transfer_id=transfer_id,
        from_account_id=source.id,
        to_account_id=target.id,
        amount=amount,
        currency=source.currency,
        description=description,
    )
    return out, into, completed
