"""One command type per intent: what a customer or a member of staff asks the ledger to do.

A command is plain data, ids included (they are chosen before deciding, so that a
decision is pure and a retry on fresh state decides the same command again). Each
names the accounts it touches (``accounts``): they are locked, in id order, for the
transaction that decides it. ``decide.py`` holds one pure function per command.

Adding a command: a frozen dataclass here (with ``accounts`` and ``action``), one
``@decides(NewCommand)`` function in decide.py, and a handler in handlers.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import ClassVar
from uuid import UUID

from server.application.actor import Actor


def business_day() -> date:
    """Today in UTC: the day daily limits and caps count on (chosen with the command)."""
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    actor: Actor
    # The audit action and metric label; the HTTP status of a success.
    action: ClassVar[str] = "command"
    status_code: ClassVar[int] = 201

    def accounts(self) -> tuple[UUID, ...]:
        """The existing accounts this command reads and changes (locked while deciding)."""
        return ()

    def reads_without_appending(self) -> bool:
        """Whether its decision reads accounts it never appends to. Such a command is
        always decided on locked states: no write of its own could tell that what it
        read was stale (docs/adr/0327)."""
        return False

    def owners_counted(self) -> tuple[UUID, ...]:
        """The owners whose open accounts its decision counts: counted in its transaction
        after a lock per owner (the next opening of theirs waits, then counts this one).
        Such a command, too, is always decided on locked states."""
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAccount(Command):
    action: ClassVar[str] = "open_account"
    account_id: UUID
    name: str
    currency: str
    opened_at: datetime
    # Outgoing limits the account starts with (settings' defaults; issue #17).
    per_transaction_limit: int | None = None
    daily_outgoing_limit: int | None = None
    # How many accounts that are not closed one customer may hold (None: no cap); the
    # owner's are counted in the opening's own transaction (State.open_accounts).
    most_open_accounts: int | None = None

    def owners_counted(self) -> tuple[UUID, ...]:
        return (self.actor.user_id,) if self.most_open_accounts is not None else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DepositMoney(Command):
    action: ClassVar[str] = "deposit_money"
    account_id: UUID
    transaction_id: UUID
    amount: int
    currency: str | None = None  # None: the account's own currency
    description: str = ""

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawMoney(Command):
    action: ClassVar[str] = "withdraw_money"
    account_id: UUID
    transaction_id: UUID
    amount: int
    currency: str | None = None
    description: str = ""
    booked_on: date = field(default_factory=business_day)

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferMoney(Command):
    action: ClassVar[str] = "transfer_money"
    transfer_id: UUID
    from_account_id: UUID
    to_account_id: UUID
    amount: int
    currency: str | None = None
    description: str = ""
    booked_on: date = field(default_factory=business_day)

    def accounts(self) -> tuple[UUID, ...]:
        return (self.from_account_id, self.to_account_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class FreezeAccount(Command):
    action: ClassVar[str] = "freeze_account"
    status_code: ClassVar[int] = 200
    account_id: UUID
    reason: str = ""

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnfreezeAccount(Command):
    action: ClassVar[str] = "unfreeze_account"
    status_code: ClassVar[int] = 200
    account_id: UUID

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenameAccount(Command):
    action: ClassVar[str] = "rename_account"
    status_code: ClassVar[int] = 200
    account_id: UUID
    name: str

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseAccount(Command):
    action: ClassVar[str] = "close_account"
    status_code: ClassVar[int] = 200
    account_id: UUID

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


# --- holds (issue #17: two-phase transfers; decided in server/application/holds.py) ---


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceHold(Command):
    action: ClassVar[str] = "place_hold"
    account_id: UUID
    hold_id: UUID
    amount: int
    placed_at: datetime
    expires_at: datetime
    to_account_id: UUID | None = None  # a pending transfer's destination
    currency: str | None = None
    description: str = ""
    booked_on: date = field(default_factory=business_day)

    def accounts(self) -> tuple[UUID, ...]:
        if self.to_account_id is None:
            return (self.account_id,)
        return (self.account_id, self.to_account_id)

    def reads_without_appending(self) -> bool:
        return self.to_account_id is not None  # the destination is checked, not changed


@dataclass(frozen=True, slots=True, kw_only=True)
class PostHold(Command):
    action: ClassVar[str] = "post_hold"
    status_code: ClassVar[int] = 200
    account_id: UUID
    hold_id: UUID
    posted_at: datetime
    amount: int | None = None  # None: the whole hold
    # The hold's destination, read before deciding (it never changes) so it is locked.
    to_account_id: UUID | None = None

    def accounts(self) -> tuple[UUID, ...]:
        if self.to_account_id is None:
            return (self.account_id,)
        return (self.account_id, self.to_account_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class VoidHold(Command):
    action: ClassVar[str] = "void_hold"
    status_code: ClassVar[int] = 200
    account_id: UUID
    hold_id: UUID
    voided_at: datetime

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldSweep(Command):
    """The scheduler's release of one hold, decided at ``now`` (its clock)."""

    status_code: ClassVar[int] = 200
    account_id: UUID
    hold_id: UUID
    now: datetime

    def accounts(self) -> tuple[UUID, ...]:
        return (self.account_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireHold(HoldSweep):
    """Release a hold whose timeout has passed."""

    action: ClassVar[str] = "expire_hold"


@dataclass(frozen=True, slots=True, kw_only=True)
class VoidHoldIntoClosedAccount(HoldSweep):
    """Void a pending transfer whose destination has been closed. It can never be
    posted, and its amount stays held from the payer until then."""

    action: ClassVar[str] = "void_hold"
