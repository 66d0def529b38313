"""The entry points the REST controllers call: one per command, typed.

Each builds its command (ids chosen here, so that deciding is pure and a retry on
fresh state decides the same command) and hands it to the write path of the
context. The deciding is in decide.py, the writing in command_runner.py.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import msgspec

from server.application import batch_transfers, standing_orders
from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult, Submission
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
from server.application.context import AppContext
from server.application.idempotency import IdempotencyKey
from server.domain import account_number
from server.observability import commands as observe
from shared.api import (
    AccountResponse,
    BatchTransferRequest,
    BatchTransferResponse,
    MoneyMovementRequest,
    OpenAccountRequest,
    TransferRequest,
)
from shared.events import EventMetadata

StatusChange = Literal["freeze", "unfreeze", "close"]


async def execute(
    ctx: AppContext,
    command: Command,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    """Any command through the one write path (group-committed when enabled)."""
    submission = Submission(command, idem, metadata, audit)
    return await observe.observed(command.action, ctx.write(submission))


async def open_account(
    ctx: AppContext,
    actor: Actor,
    req: OpenAccountRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    account_id = uuid.uuid4()
    most = ctx.settings.max_open_accounts_per_customer or None
    command = OpenAccount(
        actor=actor,
        account_id=account_id,
        name=req.name,
        currency=req.currency,
        opened_at=datetime.now(UTC),
        per_transaction_limit=ctx.settings.default_per_transaction_limit,
        daily_outgoing_limit=ctx.settings.default_daily_outgoing_limit,
        most_open_accounts=most,
    )
    result = await execute(
        ctx, command, idem, metadata, audit.about_account(account_id) if audit else None
    )
    return await with_account_number(ctx, result)


async def with_account_number(ctx: AppContext, result: CommandResult) -> CommandResult:
    """The opened account's answer with its number: the registry's column default
    assigns it when the opening commits (migration 0007), after the pure decision
    wrote the answer, so it is read back here (a replay gets it the same way)."""
    if result.status_code != 201:
        return result
    opened = msgspec.json.decode(result.body, type=AccountResponse)
    compact = await ctx.pool.fetchval(
        "SELECT account_number FROM account_owners WHERE account_id = $1", opened.id
    )
    if compact is None:  # not registered: the answer stays as the decision wrote it
        return result
    numbered = msgspec.structs.replace(opened, account_number=account_number.formatted(compact))
    return dataclasses.replace(result, body=msgspec.json.encode(numbered))


async def deposit_money(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    command = DepositMoney(
        actor=actor,
        account_id=account_id,
        transaction_id=uuid.uuid4(),
        amount=req.amount,
        currency=req.currency,
        description=req.description,
    )
    return await execute(ctx, command, idem, metadata, audit)


async def withdraw_money(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    command = WithdrawMoney(
        actor=actor,
        account_id=account_id,
        transaction_id=uuid.uuid4(),
        amount=req.amount,
        currency=req.currency,
        description=req.description,
    )
    return await execute(ctx, command, idem, metadata, audit)


async def transfer_money(
    ctx: AppContext,
    actor: Actor,
    req: TransferRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    command = TransferMoney(
        actor=actor,
        transfer_id=uuid.uuid4(),
        from_account_id=req.from_account_id,
        to_account_id=req.to_account_id,
        amount=req.amount,
        currency=req.currency,
        description=req.description,
    )
    return await execute(ctx, command, idem, metadata, audit)


def status_command(actor: Actor, account_id: UUID, change: StatusChange, reason: str) -> Command:
    if change == "freeze":
        return FreezeAccount(actor=actor, account_id=account_id, reason=reason)
    if change == "unfreeze":
        return UnfreezeAccount(actor=actor, account_id=account_id)
    return CloseAccount(actor=actor, account_id=account_id)


async def change_account_status(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    change: StatusChange,
    reason: str,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    """Freeze, unfreeze or close an account; a closed account's standing orders end."""
    command = status_command(actor, account_id, change, reason)
    result = await execute(ctx, command, idem, metadata, audit)
    if change == "close" and result.status_code == 200:  # a retry too: it finds none left
        await standing_orders.cancel_for_closed_account(ctx, account_id, audit)
    return result


async def rename_account(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    name: str,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    """Give the account another name (its owner); the same name again changes nothing."""
    command = RenameAccount(actor=actor, account_id=account_id, name=name)
    return await execute(ctx, command, idem, metadata, audit)


async def transfer_batch(
    ctx: AppContext,
    actor: Actor,
    req: BatchTransferRequest,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> BatchTransferResponse:
    run = batch_transfers.transfer_batch(ctx.runner, actor, req, metadata, audit, ctx.in_flight)
    return await observe.observed_batch("transfer_money", run)
