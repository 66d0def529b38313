"""Where money comes from (issue #17): the commands that bring money into the bank
and their pure decisions (registered with decide.py's ``@decides``).

- ``DepositCash``: a teller took cash at the desk for a customer's account.
- ``TopUpAccount``: a customer tops up their own account from outside; development
  mode only (``enabled``), capped per customer per UTC day (``daily_cap``). The
  command names every account the customer owns (``owned``) so the cap is decided
  on the tallies of all of them, locked.
The policy values ride in the command (chosen by the handler from settings), so a
decision stays a pure function of state and command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar
from uuid import UUID

from server.application.access import check_account_access, check_role
from server.application.commands import Command
from server.application.decide import Decision, State, StreamAppend, decides
from server.application.errors import PermissionDeniedError
from server.application.views import movement_response
from server.domain import funding
from server.domain.account import Account
from server.domain.errors import AccountNotFoundError
from shared.events import (
    DEPOSIT_SOURCE_CASH,
    DEPOSIT_SOURCE_DEV_TOP_UP,
    STREAM_TYPE_ACCOUNT,
    MoneyDeposited,
)

CASH_ROLE = "teller"  # who records cash paid in at the desk
TOP_UP_NOTICE = (
    "Development top-up: money created from outside the bank for testing."
    " It does not exist in production."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DepositCash(Command):
    action: ClassVar[str] = "deposit_cash"
    account_id: UUID
    transaction_id: UUID
    amount: int
    booked_on: date
    currency: str | None = None
    description: str = ""
    # Four eyes: more than this waits for a second member of staff (None: immediate;
    # the command an approval runs has None).
    approval_threshold: int | None = None

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class TopUpAccount(Command):
    action: ClassVar[str] = "top_up_account"
    account_id: UUID
    transaction_id: UUID
    amount: int
    booked_on: date
    enabled: bool
    daily_cap: int
    owned: tuple[UUID, ...] = ()  # the customer's other accounts (for the daily cap)
    currency: str | None = None
    description: str = ""

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id, *(a for a in self.owned if a != self.account_id))

    def reads_without_appending(self) -> bool:
        return any(a != self.account_id for a in self.owned)  # the cap counts them all


def _account(state: State, cmd: DepositCash | TopUpAccount) -> Account:
    account = state.accounts.get(cmd.account_id)
    if account is None:
        raise AccountNotFoundError("No such account.")
    return account


def _deposited(
    state: State, account: Account, cmd: DepositCash | TopUpAccount, source: str
) -> MoneyDeposited:
    """The deposit the command asks for, checked by the account (amount, currency,
    status, the bank-wide maximum)."""
    return account.deposit(
        amount=cmd.amount,
        currency=cmd.currency or account.currency,
        transaction_id=cmd.transaction_id,
        description=cmd.description,
        limit=state.max_amount,
        source=source,
        booked_on=cmd.booked_on,
    )


def _response(account: Account, event: MoneyDeposited, notice: str | None) -> Decision:
    after = account.apply(event)
    return Decision(
        appends=(StreamAppend(account.id, STREAM_TYPE_ACCOUNT, account.version, (event,)),),
        response=movement_response(after, event.transaction_id, event.source, notice),
        states=(after,),
    )


@decides(DepositCash)
def deposit_cash(state: State, cmd: DepositCash) -> Decision:
    account = _account(state, cmd)
    check_account_access(cmd.actor, account.owner_id, "read")  # a customer: 404 if not theirs
    check_role(cmd.actor, CASH_ROLE)
    funding.check_cash_not_for_own_account(account, cmd.actor.user_id)
    event = _deposited(state, account, cmd, DEPOSIT_SOURCE_CASH)
    funding.check_cash_within_one_person(
        cmd.amount, cmd.approval_threshold, account.currency
    )  # last: valid
    return _response(account, event, None)


@decides(TopUpAccount)
def top_up_account(state: State, cmd: TopUpAccount) -> Decision:
    account = _account(state, cmd)
    check_account_access(cmd.actor, account.owner_id, "deposit")
    if account.owner_id != cmd.actor.user_id:  # staff reach others' accounts: cash only
        raise PermissionDeniedError(
            "A top-up goes only into an account of your own; tellers take cash deposits."
        )
    funding.check_top_ups_enabled(cmd.enabled)
    event = _deposited(state, account, cmd, DEPOSIT_SOURCE_DEV_TOP_UP)
    already = funding.topped_up_on(
        state.accounts.values(), cmd.actor.user_id, cmd.booked_on, account.currency
    )
    funding.check_top_up_within_daily_cap(already, cmd.amount, cmd.daily_cap, account.currency)
    return _response(account, event, TOP_UP_NOTICE)
