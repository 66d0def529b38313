"""Entry points of the banking commands of issue #17: a teller's cash deposit, a
customer's development top-up, the legacy ``/deposits`` path that picks one of
them by who is asking, and staff setting an account's outgoing limits.

Four eyes: a cash deposit above ``cash_deposit_approval_threshold`` and a change that
raises a limit are kept as approval requests (``approvals.run_or_request``, 202) when
``approval_required`` lists their action; ``run_approved`` runs them once approved."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from server.application import approvals
from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult
from server.application.context import AppContext
from server.application.funding import CASH_ROLE, DepositCash, TopUpAccount
from server.application.handlers import execute
from server.application.idempotency import IdempotencyKey, request_hash
from server.application.limits import SetAccountLimits
from shared.api import AccountLimitsRequest, MoneyMovementRequest
from shared.events import EventMetadata

R = TypeVar("R", bound=msgspec.Struct)
# A customer with more accounts than this has their cap counted over these only.
_MAX_ACCOUNTS_COUNTED = 200
# From the (owner_id, account_id) index, in its order (migration 0023).
OWNED_ACCOUNTS = (
    "SELECT account_id FROM account_owners WHERE owner_id = $1 ORDER BY account_id LIMIT $2"
)


def business_day() -> datetime:
    return datetime.now(UTC)


async def _owned_accounts(ctx: AppContext, owner_id: UUID) -> tuple[UUID, ...]:
    rows = await ctx.pool.fetch(OWNED_ACCOUNTS, owner_id, _MAX_ACCOUNTS_COUNTED)
    return tuple(r["account_id"] for r in rows)


def _cash(
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    transaction_id: UUID,
    threshold: int | None,
) -> DepositCash:
    return DepositCash(
        actor=actor,
        account_id=account_id,
        transaction_id=transaction_id,
        amount=req.amount,
        currency=req.currency,
        description=req.description,
        booked_on=business_day().date(),
        approval_threshold=threshold,
    )


def _payload(account_id: UUID, req: msgspec.Struct) -> dict[str, Any]:
    """What an approval keeps to run the command later (``run_approved``)."""
    return {"account_id": str(account_id), **msgspec.to_builtins(req)}


def _from_payload(payload: dict[str, Any], type_: type[R]) -> tuple[UUID, R]:
    fields = dict(payload)
    return UUID(fields.pop("account_id")), msgspec.convert(fields, type_)


async def deposit_cash(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    """Cash at the desk; above the threshold (four eyes on ``deposit_cash``) it is kept
    as an approval request (202) and credited when another member of staff approves."""
    four_eyes = approvals.needs_approval(ctx.settings.approval_required, DepositCash.action)
    threshold = ctx.settings.cash_deposit_approval_threshold if four_eyes else None
    command = _cash(actor, account_id, req, uuid.uuid4(), threshold)
    payload = _payload(account_id, req)
    return await approvals.run_or_request(ctx, command, payload, idem, metadata, audit)


async def top_up(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    enabled = ctx.settings.dev_top_ups
    command = TopUpAccount(
        actor=actor,
        account_id=account_id,
        transaction_id=uuid.uuid4(),
        amount=req.amount,
        currency=req.currency,
        description=req.description,
        booked_on=business_day().date(),
        enabled=enabled,
        daily_cap=ctx.settings.dev_top_up_daily_cap,
        owned=await _owned_accounts(ctx, actor.user_id) if enabled else (),
    )
    return await execute(ctx, command, idem, metadata, audit)


def deposits_open_to(ctx: AppContext, actor: Actor) -> bool:
    """Whether ``POST /accounts/{id}/deposits`` is open to the caller (``deposit``):
    a customer's is a development top-up, only where the bank has them; staff's is cash,
    recorded by a teller. The app offers Deposit only where it is."""
    if actor.role == "customer":
        return ctx.settings.dev_top_ups
    return actor.role == CASH_ROLE


async def deposit(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    """``POST /accounts/{id}/deposits``: a customer's is a top-up (development mode
    only), staff's is cash at the desk."""
    if actor.role == "customer":
        return await top_up(ctx, actor, account_id, req, idem, metadata, audit)
    return await deposit_cash(ctx, actor, account_id, req, idem, metadata, audit)


def _limits(
    actor: Actor, account_id: UUID, req: AccountLimitsRequest, raise_needs_approval: bool
) -> SetAccountLimits:
    return SetAccountLimits(
        actor=actor,
        account_id=account_id,
        per_transaction=req.per_transaction,
        daily_outgoing=req.daily_outgoing,
        reason=req.reason,
        raise_needs_approval=raise_needs_approval,
    )


async def set_account_limits(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: AccountLimitsRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    """Staff set the limits; a raise (four eyes on ``set_account_limits``) is kept as an
    approval request (202), a lowering takes effect at once."""
    four_eyes = approvals.needs_approval(ctx.settings.approval_required, SetAccountLimits.action)
    command = _limits(actor, account_id, req, four_eyes)
    payload = _payload(account_id, req)
    return await approvals.run_or_request(ctx, command, payload, idem, metadata, audit)


def _approved_command(
    action: str, checker: Actor, payload: dict[str, Any], approval_id: UUID
) -> tuple[DepositCash | SetAccountLimits, msgspec.Struct, str]:
    """The command an approval runs (as the checker, four eyes already given), the
    request it was made of and its key's command name."""
    if action == DepositCash.action:
        account_id, cash = _from_payload(payload, MoneyMovementRequest)
        # the approval's id is the deposit's transaction id: the posting names it
        return _cash(checker, account_id, cash, approval_id, None), cash, "deposit_cash"
    account_id, limits = _from_payload(payload, AccountLimitsRequest)
    return _limits(checker, account_id, limits, False), limits, "limits"


async def run_approved(
    ctx: AppContext,
    checker: Actor,
    action: str,
    payload: dict[str, Any],
    approval_id: UUID,
    metadata: EventMetadata,
    audit: AuditRecord,
) -> CommandResult:
    """An approved cash deposit or raise of limits, run by the checker, once: under the
    approval's own key, so approving twice (or again after a crash between running it
    and marking the request approved) replays the first answer."""
    command, req, name = _approved_command(action, checker, payload, approval_id)
    account_id = command.account_id
    key = request_hash(f"{name}:{account_id}", req)
    idem = IdempotencyKey("approval", f"approval:{approval_id}", key)
    meta = msgspec.structs.replace(metadata, idempotency_key=idem.key)
    return await execute(ctx, command, idem, meta, audit.about_account(account_id))
