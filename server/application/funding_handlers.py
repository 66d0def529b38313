"""Entry points of the banking commands of issue #17: a teller's cash deposit, a
customer's development top-up, the legacy ``/deposits`` path that picks one of
them by who is asking, and staff setting an account's outgoing limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult
from server.application.context import AppContext
from server.application.funding import DepositCash, TopUpAccount
from server.application.handlers import execute
from server.application.idempotency import IdempotencyKey
from server.application.limits import SetAccountLimits
from shared.api import AccountLimitsRequest, MoneyMovementRequest
from shared.events import EventMetadata

# A customer with more accounts than this has their cap counted over these only.
_MAX_ACCOUNTS_COUNTED = 200


def business_day() -> datetime:
    return datetime.now(UTC)


async def _owned_accounts(ctx: AppContext, owner_id: UUID) -> tuple[UUID, ...]:
    rows = await ctx.pool.fetch(
        "SELECT account_id FROM account_owners WHERE owner_id = $1 ORDER BY account_id LIMIT $2",
        owner_id,
        _MAX_ACCOUNTS_COUNTED,
    )
    return tuple(r["account_id"] for r in rows)


async def deposit_cash(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    command = DepositCash(
        actor=actor,
        account_id=account_id,
        transaction_id=uuid.uuid4(),
        amount=req.amount,
        currency=req.currency,
        description=req.description,
        booked_on=business_day().date(),
    )
    return await execute(ctx, command, idem, metadata, audit)


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


async def set_account_limits(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: AccountLimitsRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    command = SetAccountLimits(
        actor=actor,
        account_id=account_id,
        per_transaction=req.per_transaction,
        daily_outgoing=req.daily_outgoing,
        reason=req.reason,
    )
    return await execute(ctx, command, idem, metadata, audit)
