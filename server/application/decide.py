"""Pure decisions: ``decide(state, command) -> Decision`` for every command type.

No I/O: the state is the locked accounts as the transaction sees them (including
what earlier commands of the same group left), the decision is the events to
append, the answer to give and the accounts' new states. A refusal is a raised
DomainError: a BusinessRuleError is stored under the idempotency key and replayed;
an access refusal is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from server.application.access import Action, check_account_access, check_may_open_account
from server.application.actor import Actor
from server.application.commands import (
    CloseAccount,
    Command,
    DepositMoney,
    FreezeAccount,
    OpenAccount,
    RenameAccount,
    TransferMoney,
    UnfreezeAccount,
    WithdrawMoney,
)
from server.application.errors import DestinationNotFoundError
from server.application.views import account_response, movement_response, transfer_response
from server.domain import account as domain
from server.domain.account import Account
from server.domain.errors import AccountNotFoundError
from shared.api import AccountNameResponse, AccountStatusResponse
from shared.events import (
    STREAM_TYPE_ACCOUNT,
    STREAM_TYPE_TRANSFER,
    AccountEvent,
    Event,
    MoneyDeposited,
    MoneyWithdrawn,
)


@dataclass(frozen=True, slots=True)
class State:
    """What a decision may look at: the commands' accounts that exist, the limits, and
    how many open accounts the owners a command counts hold (Command.owners_counted)."""

    accounts: Mapping[UUID, Account]
    max_amount: int
    open_accounts: Mapping[UUID, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """New events for one stream, expected to follow ``expected_version``."""

    stream_id: UUID
    stream_type: str
    expected_version: int
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class NewAccount:
    """The ownership row of an account being opened (account_owners)."""

    account_id: UUID
    owner_id: UUID
    currency: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    appends: tuple[StreamAppend, ...]
    response: msgspec.Struct
    states: tuple[Account, ...]  # the touched accounts after the events
    opened: NewAccount | None = None


C = TypeVar("C", bound=Command)
Decider = Callable[[State, Any], Decision]
_DECIDERS: dict[type[Command], Decider] = {}


def decides(command_type: type[C]) -> Callable[[Callable[[State, C], Decision]], Decider]:
    """Register the decider of a command type."""

    def register(fn: Callable[[State, C], Decision]) -> Decider:
        _DECIDERS[command_type] = fn
        return fn

    return register


def decide(state: State, command: Command) -> Decision:
    """The decision on ``command`` in ``state``; raises DomainError for a refusal."""
    return _DECIDERS[type(command)](state, command)


def account_for(state: State, actor: Actor, account_id: UUID, action: Action) -> Account:
    account = state.accounts.get(account_id)
    check_account_access(actor, account.owner_id if account else None, action)
    if account is None:  # check_account_access refuses an unknown account; be explicit
        raise AccountNotFoundError("No such account.")
    return account


def _one_stream(account: Account, event: Event) -> tuple[StreamAppend, ...]:
    return (StreamAppend(account.id, STREAM_TYPE_ACCOUNT, account.version, (event,)),)


@decides(OpenAccount)
def open_account(state: State, cmd: OpenAccount) -> Decision:
    check_may_open_account(cmd.actor)
    opened = domain.open_account(
        account_id=cmd.account_id,
        owner_id=cmd.actor.user_id,
        name=cmd.name,
        currency=cmd.currency,
        per_transaction_limit=cmd.per_transaction_limit,
        daily_outgoing_limit=cmd.daily_outgoing_limit,
        open_accounts=state.open_accounts.get(cmd.actor.user_id, 0),
        most_open_accounts=cmd.most_open_accounts,
    )
    after = Account.opened(opened)
    return Decision(
        appends=(StreamAppend(cmd.account_id, STREAM_TYPE_ACCOUNT, 0, (opened,)),),
        response=account_response(after, cmd.opened_at),
        states=(after,),
        opened=NewAccount(cmd.account_id, cmd.actor.user_id, after.currency, cmd.opened_at),
    )


def _movement(account: Account, event: MoneyDeposited | MoneyWithdrawn) -> Decision:
    after = account.apply(event)
    return Decision(
        appends=_one_stream(account, event),
        response=movement_response(after, event.transaction_id),
        states=(after,),
    )


@decides(DepositMoney)
def deposit_money(state: State, cmd: DepositMoney) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "deposit")
    event = account.deposit(
        amount=cmd.amount,
        currency=cmd.currency or account.currency,
        transaction_id=cmd.transaction_id,
        description=cmd.description,
        limit=state.max_amount,
    )
    return _movement(account, event)


@decides(WithdrawMoney)
def withdraw_money(state: State, cmd: WithdrawMoney) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "withdraw")
    event = account.withdraw(
        amount=cmd.amount,
        currency=cmd.currency or account.currency,
        transaction_id=cmd.transaction_id,
        description=cmd.description,
        limit=state.max_amount,
        booked_on=cmd.booked_on,
    )
    return _movement(account, event)


@decides(TransferMoney)
def transfer_money(state: State, cmd: TransferMoney) -> Decision:
    source = account_for(state, cmd.actor, cmd.from_account_id, "transfer")
    target = state.accounts.get(cmd.to_account_id)
    if target is None:
        raise DestinationNotFoundError("The destination account does not exist.")
    out, into, completed = domain.transfer(
        source=source,
        target=target,
        amount=cmd.amount,
        currency=cmd.currency,
        transfer_id=cmd.transfer_id,
        description=cmd.description,
        limit=state.max_amount,
        booked_on=cmd.booked_on,
    )
    source_after, target_after = source.apply(out), target.apply(into)
    return Decision(
        appends=(
            StreamAppend(source.id, STREAM_TYPE_ACCOUNT, source.version, (out,)),
            StreamAppend(target.id, STREAM_TYPE_ACCOUNT, target.version, (into,)),
            StreamAppend(cmd.transfer_id, STREAM_TYPE_TRANSFER, 0, (completed,)),
        ),
        response=transfer_response(source_after, cmd.transfer_id),
        states=(source_after, target_after),
    )


def _status_change(account: Account, event: AccountEvent) -> Decision:
    after = account.apply(event)
    return Decision(
        appends=_one_stream(account, event),
        response=AccountStatusResponse(
            account_id=account.id, status=after.status, version=after.version
        ),
        states=(after,),
    )


@decides(FreezeAccount)
def freeze_account(state: State, cmd: FreezeAccount) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "freeze")
    return _status_change(account, account.freeze(cmd.reason))


@decides(UnfreezeAccount)
def unfreeze_account(state: State, cmd: UnfreezeAccount) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "unfreeze")
    return _status_change(account, account.unfreeze())


@decides(RenameAccount)
def rename_account(state: State, cmd: RenameAccount) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "rename")
    event = account.rename(cmd.name)
    after = account.apply(event) if event else account
    return Decision(
        appends=_one_stream(account, event) if event else (),
        response=AccountNameResponse(account_id=account.id, name=after.name, version=after.version),
        states=(after,),
    )


@decides(CloseAccount)
def close_account(state: State, cmd: CloseAccount) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "close")
    return _status_change(account, account.close())
