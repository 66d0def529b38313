"""Outgoing limits (issue #17): staff set an account's per-payment and daily limits.

``SetAccountLimits`` is audited like every command and idempotent by key. Who may:
tellers and admins. Raising a limit waits for a second member of staff when four eyes
are on (``raise_needs_approval``); lowering one takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar
from uuid import UUID

from server.application.access import check_account_access, check_role
from server.application.commands import Command, business_day
from server.application.decide import Decision, State, StreamAppend, decides
from server.domain import limits
from server.domain.account import Account
from server.domain.errors import AccountNotFoundError
from shared.api import AccountLimitsResponse
from shared.events import STREAM_TYPE_ACCOUNT


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAccountLimits(Command):
    action: ClassVar[str] = "set_account_limits"
    status_code: ClassVar[int] = 200
    account_id: UUID
    per_transaction: int
    daily_outgoing: int
    reason: str = ""
    booked_on: date = field(default_factory=business_day)
    # Four eyes: a raise is refused with ApprovalRequiredError (kept as a request);
    # False for the command an approval runs, and when four eyes are off.
    raise_needs_approval: bool = False

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


def limits_response(account: Account, day: date, bank_max: int) -> AccountLimitsResponse:
    """``bank_max``: the bank's per-transaction maximum, which holds for every account."""
    return AccountLimitsResponse(
        account_id=account.id,
        per_transaction=account.per_transaction_limit,
        daily_outgoing=account.daily_outgoing_limit,
        remaining_today=account.remaining_today(day),
        version=account.version,
        bank_per_transaction=bank_max,
    )


@decides(SetAccountLimits)
def set_account_limits(state: State, cmd: SetAccountLimits) -> Decision:
    account = state.accounts.get(cmd.account_id)
    if account is None:
        raise AccountNotFoundError("No such account.")
    check_account_access(cmd.actor, account.owner_id, "read")  # a customer: 404 if not theirs
    check_role(cmd.actor, "teller", "admin")
    event = limits.change_limits(
        account, per_transaction=cmd.per_transaction, daily=cmd.daily_outgoing, reason=cmd.reason
    )
    if cmd.raise_needs_approval:  # decided on the locked state: a race cannot slip a raise
        limits.check_not_raised_alone(
            account, per_transaction=cmd.per_transaction, daily=cmd.daily_outgoing
        )
    after = account.apply(event)
    return Decision(
        appends=(StreamAppend(account.id, STREAM_TYPE_ACCOUNT, account.version, (event,)),),
        response=limits_response(after, cmd.booked_on, state.max_amount),
        states=(after,),
    )
