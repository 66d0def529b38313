"""Entry points of the banking commands of issue #17: a teller's cash deposit, a
customer's development top-up, the legacy ``/deposits`` path that picks one of
them by who is asking, and staff setting an account's outgoing limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from server.application import approvals
from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult
from server.application.context import AppContext
from server.application.funding import DepositCash, TopUpAccount
from server.application.handlers import execute
from server.application.idempotency import IdempotencyKey, request_hash
from server.application.limits import SetAccountLimits
from shared.api import AccountLimitsRequest, MoneyMovementRequest
from shared.events import EventMetadata

# A customer with more accounts than this has their cap counted over these only.
_MAX_ACCOUNTS_COUNTED = 200


def business_day() -> datetime:
    return datetime.now(UTC)


def approval_key(approval_id: UUID, command: str, req: msgspec.Struct) -> IdempotencyKey:
    """The key an approved command runs under: one per approval, so approving twice
    (or retrying after a crash between running and marking it approved) runs it once."""
    return IdempotencyKey("approval", f"approval:{approval_id}", request_hash(command, req))


async def _owned_accounts(ctx: AppContext, owner_id: UUID) -> tuple[UUID, ...]:
    rows = await ctx.pool.fetch(
        "SELECT account_id FROM account_owners WHERE owner_id = $1 ORDER BY account_id LIMIT $2",
        owner_id,
        _MAX_ACCOUNTS_COUNTED,
    )
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


def _cash_payload(account_id: UUID, req: MoneyMovementRequest) -> dict[str, Any]:
    """What an approval needs to run the deposit later (``deposit_cash_approved``)."""
    return {"account_id": str(account_id), **msgspec.to_builtins(req)}


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
    payload = _cash_payload(account_id, req)
    return await approvals.run_or_request(ctx, command, payload, idem, metadata, audit)


async def deposit_cash_approved(
    ctx: AppContext,
    checker: Actor,
    payload: dict[str, Any],
    approval_id: UUID,
    metadata: EventMetadata,
    audit: AuditRecord,
) -> CommandResult:
    """The approved deposit, run by the checker, once: under the approval's own key and
    with the approval's id as the transaction id."""
    account_id = UUID(payload["account_id"])
    req = msgspec.convert(
        {k: v for k, v in payload.items() if k != "account_id"}, MoneyMovementRequest
    )
    command = _cash(checker, account_id, req, approval_id, None)
    idem = approval_key(approval_id, f"deposit_cash:{account_id}", req)
    meta = msgspec.structs.replace(metadata, idempotency_key=idem.key)
    return await execute(ctx, command, idem, meta, audit.about_account(account_id))


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
    payload = {"account_id": str(account_id), **msgspec.to_builtins(req)}
    return await approvals.run_or_request(ctx, command, payload, idem, metadata, audit)


async def set_account_limits_approved(
    ctx: AppContext,
    checker: Actor,
    payload: dict[str, Any],
    approval_id: UUID,
    metadata: EventMetadata,
    audit: AuditRecord,
) -> CommandResult:
    """The approved change, run by the checker, once (under the approval's own key)."""
    account_id = UUID(payload["account_id"])
    req = msgspec.convert(
        {k: v for k, v in payload.items() if k != "account_id"}, AccountLimitsRequest
    )
    idem = approval_key(approval_id, f"limits:{account_id}", req)
    command = _limits(checker, account_id, req, False)
    meta = msgspec.structs.replace(metadata, idempotency_key=idem.key)
    return await execute(ctx, command, idem, meta, audit.about_account(account_id))
