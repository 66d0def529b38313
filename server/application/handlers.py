"""One function per command. Each loads the aggregates it needs, lets them
decide, and hands the events to the command runner."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg

from server.adapters import audit as audit_log
from server.adapters.audit import AuditRecord
from server.adapters.event_store import StreamAppend
from server.adapters.idempotency import IdempotencyKey
from server.application.access import Action, check_account_access, check_may_open_account
from server.application.command_runner import CommandResult, Decision, run_command
from server.application.context import Actor, AppContext
from server.application.errors import DestinationNotFoundError, PermissionDeniedError
from server.application.views import account_response
from server.domain import account as domain
from server.domain.account import Account
from server.domain.errors import AccountNotFoundError
from shared.api import (
    AccountStatusResponse,
    MoneyMovementRequest,
    MoneyMovementResponse,
    OpenAccountRequest,
    TransferRequest,
    TransferResponse,
)
from shared.events import STREAM_TYPE_ACCOUNT, STREAM_TYPE_TRANSFER, EventMetadata
from shared.money import Money


async def _load(
    ctx: AppContext,
    conn: asyncpg.Connection,
    owners: dict[UUID, UUID],
    actor: Actor,
    account_id: UUID,
    action: Action,
) -> Account:
    check_account_access(actor, owners.get(account_id), action)
    account = await ctx.accounts.get(conn, account_id)
    if account is None:  # an owner row without events cannot happen; be explicit anyway
        raise AccountNotFoundError("No such account.")
    return account


async def open_account(
    ctx: AppContext,
    actor: Actor,
    req: OpenAccountRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    account_id = uuid.uuid4()
    if audit is not None:
        audit = audit.about_account(account_id)

    async def decide(conn: asyncpg.Connection, _: dict[UUID, UUID]) -> Decision:
        opened = domain.open_account(
            account_id=account_id, owner_id=actor.user_id, name=req.name, currency=req.currency
        )
        opened_at = await conn.fetchval(
            "INSERT INTO account_owners (account_id, owner_id, currency) VALUES ($1, $2, $3)"
            " RETURNING opened_at",
            account_id,
            actor.user_id,
            req.currency,
        )
        state = Account.opened(opened)
        return Decision(
            appends=[StreamAppend(account_id, STREAM_TYPE_ACCOUNT, 0, [opened])],
            response=account_response(state, opened_at),
            new_states=[state],
        )

    try:
        check_may_open_account(actor)
    except PermissionDeniedError as err:
        if audit is not None:
            await audit_log.write_alone(ctx.pool, audit.refused(err.code))
        raise
    return await run_command(ctx, lock=[], idem=idem, metadata=metadata, decide=decide, audit=audit)


async def _move_money(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    action: Action,
    audit: AuditRecord | None = None,
) -> CommandResult:
    transaction_id = uuid.uuid4()

    async def decide(conn: asyncpg.Connection, owners: dict[UUID, UUID]) -> Decision:
        account = await _load(ctx, conn, owners, actor, account_id, action)
        step = account.deposit if action == "deposit" else account.withdraw
        event = step(
            amount=req.amount,
            currency=account.currency,
            transaction_id=transaction_id,
            description=req.description,
            limit=ctx.settings.max_transaction_amount,
        )
        after = account.apply(event)
        return Decision(
            appends=[StreamAppend(account_id, STREAM_TYPE_ACCOUNT, account.version, [event])],
            response=MoneyMovementResponse(
                transaction_id=transaction_id,
                balance=Money(amount=after.balance, currency=after.currency),
                version=after.version,
            ),
            new_states=[after],
        )

    return await run_command(
        ctx, lock=[account_id], idem=idem, metadata=metadata, decide=decide, audit=audit
    )


async def deposit_money(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    return await _move_money(ctx, actor, account_id, req, idem, metadata, "deposit", audit)


async def withdraw_money(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: MoneyMovementRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    return await _move_money(ctx, actor, account_id, req, idem, metadata, "withdraw", audit)


async def transfer_money(
    ctx: AppContext,
    actor: Actor,
    req: TransferRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    transfer_id = uuid.uuid4()

    async def decide(conn: asyncpg.Connection, owners: dict[UUID, UUID]) -> Decision:
        source = await _load(ctx, conn, owners, actor, req.from_account_id, "transfer")
        if req.to_account_id not in owners:
            raise DestinationNotFoundError("The destination account does not exist.")
        target = await ctx.accounts.get(conn, req.to_account_id)
        if target is None:
            raise DestinationNotFoundError("The destination account does not exist.")
        out, into, completed = domain.transfer(
            source=source,
            target=target,
            amount=req.amount,
            transfer_id=transfer_id,
            description=req.description,
            limit=ctx.settings.max_transaction_amount,
        )
        source_after, target_after = source.apply(out), target.apply(into)
        return Decision(
            appends=[
                StreamAppend(source.id, STREAM_TYPE_ACCOUNT, source.version, [out]),
                StreamAppend(target.id, STREAM_TYPE_ACCOUNT, target.version, [into]),
                StreamAppend(transfer_id, STREAM_TYPE_TRANSFER, 0, [completed]),
            ],
            response=TransferResponse(
                transfer_id=transfer_id,
                balance=Money(amount=source_after.balance, currency=source_after.currency),
                version=source_after.version,
            ),
            new_states=[source_after, target_after],
        )

    return await run_command(
        ctx,
        lock=[req.from_account_id, req.to_account_id],
        idem=idem,
        metadata=metadata,
        decide=decide,
        audit=audit,
    )


async def change_account_status(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    action: Action,
    reason: str,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    """Freeze, unfreeze or close an account."""

    async def decide(conn: asyncpg.Connection, owners: dict[UUID, UUID]) -> Decision:
        account = await _load(ctx, conn, owners, actor, account_id, action)
        if action == "freeze":
            event = account.freeze(reason)
        elif action == "unfreeze":
            event = account.unfreeze()
        else:
            event = account.close()
        after = account.apply(event)
        return Decision(
            appends=[StreamAppend(account_id, STREAM_TYPE_ACCOUNT, account.version, [event])],
            response=AccountStatusResponse(
                account_id=account_id, status=after.status, version=after.version
            ),
            new_states=[after],
        )

    return await run_command(
        ctx,
        lock=[account_id],
        idem=idem,
        metadata=metadata,
        decide=decide,
        status_code=200,
        audit=audit,
    )
