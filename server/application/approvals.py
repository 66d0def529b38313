"""Maker-checker (Fineract's four eyes, issue #17 item 6).

A staff command whose audit action is listed in ``settings.approval_required`` does
not run when asked: it is kept as a pending request (``approval_requests``, migration
0010) and answered 202 with the request's id. It runs when a *different* staff member
approves it, as that checker (so the checker needs the rights the command needs) and
exactly once: the request row is locked while the command runs and only a pending
request can be approved. Rejected and expired requests are kept. Requesting,
approving and rejecting are audit rows; the command itself writes its own audit row
as every command does, with the approval's id in its details.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from server.application.access import Action, check_account_access, check_role
from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult
from server.application.commands import Command
from server.application.context import AppContext
from server.application.errors import IdempotencyKeyReusedError, PermissionDeniedError
from server.application.handlers import execute
from server.application.idempotency import IdempotencyKey
from server.domain.errors import (
    AccountNotFoundError,
    ApprovalRequiredError,
    BusinessRuleError,
    DomainError,
)
from shared.approvals import ApprovalList, ApprovalPending, ApprovalResponse
from shared.events import EventMetadata

STAFF = ("teller", "admin", "auditor")
CHECKERS = ("teller", "admin")
APPROVAL_TTL = timedelta(hours=24)  # a pending request expires after this
# Runs the approved command as the checker; returns the command's HTTP status.
Executor = Callable[[Actor, dict[str, Any], AuditRecord], Awaitable[int]]

_COLUMNS = (
    "id, action, payload, target_type, target_id, maker_id, status, created_at, expires_at,"
    " checker_id, decided_at, reason, result_status"
)
_EXPIRE = (
    "UPDATE approval_requests SET status = 'expired', decided_at = now()"
    " WHERE status = 'pending' AND expires_at <= now()"
)


class ApprovalNotFoundError(AccountNotFoundError):
    code = "approval_not_found"


class ApprovalNotPendingError(BusinessRuleError):
    code = "approval_not_pending"


def needs_approval(required: str, action: str) -> bool:
    """Whether ``action`` is one of the comma-separated actions of the setting."""
    return action in {a.strip() for a in required.split(",") if a.strip()}


def _view(row: asyncpg.Record) -> ApprovalResponse:
    fields = dict(row)
    fields["payload"] = msgspec.json.decode(row["payload"])
    return ApprovalResponse(**fields)


async def check_may_ask(ctx: AppContext, maker: Actor, account: UUID, action: Action) -> None:
    """The maker must be allowed to do what they ask for (404 for an unknown account)."""
    owner = await ctx.pool.fetchval(
        "SELECT owner_id FROM account_owners WHERE account_id = $1", account
    )
    check_account_access(maker, owner, action)


def _pending(approval_id: UUID, action: str) -> ApprovalPending:
    return ApprovalPending(
        approval_id=approval_id,
        status="pending",
        action=action,
        message="This change needs a second staff member's approval before it takes effect.",
    )


async def request(
    ctx: AppContext,
    maker: Actor,
    action: str,
    payload: dict[str, Any],
    audit: AuditRecord,
    idem: IdempotencyKey | None = None,
) -> ApprovalPending:
    """Keep the command as a pending request (the caller checked the maker's rights).
    Under the maker's Idempotency-Key: a retry answers the request already kept."""
    approval_id = uuid.uuid4()
    pending = _pending(approval_id, action)
    inserted = await ctx.pool.fetchval(
        "INSERT INTO approval_requests (id, action, payload, target_type, target_id,"
        " account_id, maker_id, maker_role, expires_at, request_scope, request_key,"
        " request_hash) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT (request_scope, request_key) WHERE request_key IS NOT NULL DO NOTHING"
        " RETURNING id",
        approval_id,
        action,
        msgspec.json.encode(payload).decode(),
        audit.target_type,
        audit.target_id,
        audit.account_id,
        maker.user_id,
        maker.role,
        datetime.now(UTC) + APPROVAL_TTL,
        idem.scope if idem else None,
        idem.key if idem else None,
        idem.request_hash if idem else None,
    )
    # The 202 is the key's answer: a retry is replayed by the write path's own load, so
    # a command that four eyes may hold looks nothing up before it runs (docs/adr/0206).
    if inserted is None and idem is not None:  # kept already: the same call meanwhile, or
        kept = await kept_request(ctx, idem)  # its answer was lost with the process
        if kept is not None:
            await ctx.uow.record([], [(idem, 202, msgspec.json.encode(kept))])
            return kept
    details = {**audit.details, "approval_id": str(approval_id), "requested": action}
    requested = msgspec.structs.replace(audit, action="approval_requested", details=details)
    answer = [(idem, 202, msgspec.json.encode(pending))] if idem is not None else []
    await ctx.uow.record([requested], answer)
    return pending


async def kept_request(ctx: AppContext, idem: IdempotencyKey) -> ApprovalPending | None:
    """The request kept under this key (the first answer again), if there is one."""
    row = await ctx.pool.fetchrow(
        "SELECT id, action, request_hash FROM approval_requests"
        " WHERE request_scope = $1 AND request_key = $2",
        idem.scope,
        idem.key,
    )
    if row is None:
        return None
    if bytes(row["request_hash"]) != idem.request_hash:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used for a different request; use a new key."
        )
    return _pending(row["id"], row["action"])


async def run_or_request(
    ctx: AppContext,
    command: Command,
    payload: dict[str, Any],
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None,
) -> CommandResult:
    """Run a command that four eyes may hold: its decision refuses with
    ApprovalRequiredError (after every other rule passed, on the locked state) when it
    needs a second member of staff, and the command is then kept as a request (202)."""
    audit = audit or AuditRecord(
        action=command.action, actor_id=command.actor.user_id, actor_role=command.actor.role
    )
    # A retry of a kept request is replayed by ``execute`` from the 202 that
    # ``request`` stored under its key (migration 0014 stored those of older requests).
    try:
        return await execute(ctx, command, idem, metadata, audit)
    except ApprovalRequiredError:
        pending = await request(ctx, command.actor, command.action, payload, audit, idem)
        return CommandResult(202, msgspec.json.encode(pending))


async def list_requests(ctx: AppContext, actor: Actor, status: str | None) -> ApprovalList:
    check_role(actor, *STAFF)
    async with ctx.pool.acquire() as conn:
        await conn.execute(_EXPIRE)
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM approval_requests WHERE ($1::text IS NULL OR status = $1)"
            " ORDER BY created_at DESC LIMIT 500",
            status,
        )
    return ApprovalList(items=[_view(r) for r in rows])


async def _locked(conn: asyncpg.Connection, approval_id: UUID) -> asyncpg.Record:
    await conn.execute(_EXPIRE)
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM approval_requests WHERE id = $1 FOR UPDATE", approval_id
    )
    if row is None:
        raise ApprovalNotFoundError("No such approval request.")
    return row


def _decided_already(row: asyncpg.Record, checker: Actor, outcome: str) -> bool:
    """The same checker asking the same decision again (a retry after a lost answer):
    answered with the decision made, not refused."""
    return bool(row["status"] == outcome and row["checker_id"] == checker.user_id)


def _check_pending(row: asyncpg.Record, checker: Actor) -> None:
    if row["status"] != "pending":
        raise ApprovalNotPendingError(f"This request is already {row['status']}.")
    if row["maker_id"] == checker.user_id:
        raise PermissionDeniedError("You made this request; another staff member must decide it.")


def _decision_audit(audit: AuditRecord, row: asyncpg.Record, action: str) -> AuditRecord:
    return msgspec.structs.replace(
        audit,
        action=action,
        target_type="approval",
        target_id=str(row["id"]),
        details={"requested": row["action"], "maker_id": str(row["maker_id"])},
    )


async def _decide(
    ctx: AppContext,
    checker: Actor,
    approval_id: UUID,
    audit: AuditRecord,
    outcome: str,
    decide: Any,
) -> ApprovalResponse:
    audit = msgspec.structs.replace(audit, target_type="approval", target_id=str(approval_id))
    try:
        check_role(checker, *CHECKERS)
        async with ctx.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, approval_id)
            if _decided_already(row, checker, outcome):
                await ctx.uow.record([audit.replayed()])
                return _view(row)
            _check_pending(row, checker)
            updated = await decide(conn, row)
    except DomainError as err:
        await ctx.uow.record([audit.refused(err.code)])
        raise
    return _view(updated)


async def approve(
    ctx: AppContext,
    checker: Actor,
    approval_id: UUID,
    audit: AuditRecord,
    executors: Mapping[str, Executor],
) -> ApprovalResponse:
    """Run the request's command as ``checker`` (not its maker), once."""

    async def run(conn: asyncpg.Connection, row: asyncpg.Record) -> asyncpg.Record:
        payload = msgspec.json.decode(row["payload"])
        command_audit = msgspec.structs.replace(
            audit,
            action=row["action"],
            target_type=row["target_type"],
            target_id=row["target_id"],
            details={"approval_id": str(row["id"]), "maker_id": str(row["maker_id"])},
        )
        status = await executors[row["action"]](checker, payload, command_audit)
        await ctx.uow.record([_decision_audit(audit, row, "approval_approved")])
        return await conn.fetchrow(
            "UPDATE approval_requests SET status = 'approved', checker_id = $2,"
            f" decided_at = now(), result_status = $3 WHERE id = $1 RETURNING {_COLUMNS}",
            row["id"],
            checker.user_id,
            status,
        )

    return await _decide(ctx, checker, approval_id, audit, "approved", run)


async def reject(
    ctx: AppContext, checker: Actor, approval_id: UUID, reason: str, audit: AuditRecord
) -> ApprovalResponse:
    """Keep the request as rejected; its command never runs."""

    async def refuse(conn: asyncpg.Connection, row: asyncpg.Record) -> asyncpg.Record:
        await ctx.uow.record([_decision_audit(audit, row, "approval_rejected")])
        return await conn.fetchrow(
            "UPDATE approval_requests SET status = 'rejected', checker_id = $2,"
            f" decided_at = now(), reason = $3 WHERE id = $1 RETURNING {_COLUMNS}",
            row["id"],
            checker.user_id,
            reason,
        )

    return await _decide(ctx, checker, approval_id, audit, "rejected", refuse)
