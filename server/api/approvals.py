"""Maker-checker (issue #17 item 6): the requests waiting for a second staff member.

GET  /api/v1/approvals?status=            staff: the requests (newest first)
POST /api/v1/approvals/{id}/approve       a different staff member runs the command
POST /api/v1/approvals/{id}/reject        ... or refuses it (kept, never runs)

The commands that need approval answer 202 with the request's id from their own
endpoints when the setting ``approval_required`` lists their action: unfreezing,
changing a role and turning off a customer's two-step sign-in always
(``pending_unfreeze``, ``pending_role_change``, ``pending_two_step_reset``); a cash deposit
above ``cash_deposit_approval_threshold`` and a change that raises a limit when their
decision says so (``approvals.run_or_request``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec

from server.api.body import decode_body, event_metadata, parse_uuid
from server.api.bootstrap import services_of
from server.api.security import audit_record
from server.application import admin, approvals, funding_handlers, handlers, two_step
from server.application.audit import AuditRecord
from server.application.context import Actor, AppContext
from server.application.idempotency import IdempotencyKey, request_hash
from shared.api import FreezeRequest
from shared.approvals import ApprovalList, ApprovalPending, ApprovalResponse, RejectRequest

# The 202 a command needing approval answers, for its endpoint's OpenAPI entry.
PENDING_RESPONSE = {
    202: ResponseSpec(
        data_container=ApprovalPending,
        description="Needs a second staff member: kept as a pending approval request.",
    )
}


def _accepted(pending: msgspec.Struct) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(pending), status_code=202, media_type="application/json"
    )


async def pending_unfreeze(
    request: Request[Any, Any, Any],
    ctx: AppContext,
    actor: Actor,
    account: UUID,
    idem: IdempotencyKey | None,
) -> Response[bytes] | None:
    """202 with a pending request when unfreezing needs approval (a retry under the
    same Idempotency-Key answers the same request); None otherwise."""
    if not approvals.needs_approval(ctx.settings.approval_required, "unfreeze_account"):
        return None
    await approvals.check_may_ask(ctx, actor, account, "unfreeze")
    audit = audit_record(request, "unfreeze_account", actor).about_account(account)
    payload = {"account_id": str(account)}
    pending = await approvals.request(ctx, actor, "unfreeze_account", payload, audit, idem)
    return _accepted(pending)


async def pending_role_change(
    request: Request[Any, Any, Any],
    ctx: AppContext,
    actor: Actor,
    user_id: UUID,
    role: str,
    idem: IdempotencyKey | None,
) -> Response[bytes] | None:
    """202 with a pending request when a role change needs approval (a retry under the
    same Idempotency-Key answers the same request); None otherwise."""
    if not approvals.needs_approval(ctx.settings.approval_required, "change_role"):
        return None
    await admin.check_may_ask_role_change(ctx, actor, user_id)
    audit = audit_record(request, "change_role", actor)
    payload = {"user_id": str(user_id), "role": role}
    pending = await approvals.request(
        ctx,
        actor,
        "change_role",
        payload,
        _about_user(audit, user_id, role),
        idem,
    )
    return _accepted(pending)


async def pending_two_step_reset(
    request: Request[Any, Any, Any],
    ctx: AppContext,
    actor: Actor,
    user_id: UUID,
    idem: IdempotencyKey | None,
) -> Response[bytes] | None:
    """202 with a pending request when turning a customer's two-step sign-in off needs
    approval (a retry under the same Idempotency-Key answers the same request); None
    otherwise."""
    if not approvals.needs_approval(ctx.settings.approval_required, two_step.RESET_ACTION):
        return None
    await admin.check_may_ask_two_step_reset(ctx, actor, user_id)
    audit = audit_record(request, two_step.RESET_ACTION, actor).about_user(user_id)
    payload = {"user_id": str(user_id)}
    pending = await approvals.request(ctx, actor, two_step.RESET_ACTION, payload, audit, idem)
    return _accepted(pending)


def _about_user(audit: AuditRecord, user_id: UUID, role: str) -> AuditRecord:
    return msgspec.structs.replace(audit.about_user(user_id), details={"role": role})


def executors(request: Request[Any, Any, Any], ctx: AppContext) -> dict[str, approvals.Executor]:
    """How each approvable command runs once approved (as the checker)."""

    async def unfreeze(checker: Actor, payload: dict[str, Any], audit: AuditRecord) -> int:
        account = UUID(payload["account_id"])
        key = f"approval:{audit.details['approval_id']}"
        # Exactly once, even if the approval were run twice.
        idem = IdempotencyKey("approval", key, approvals_hash("unfreeze", account))
        meta = event_metadata(request, checker, idem)
        result = await handlers.change_account_status(
            ctx, checker, account, "unfreeze", "", idem, meta, audit.about_account(account)
        )
        return result.status_code

    async def change_role(checker: Actor, payload: dict[str, Any], audit: AuditRecord) -> int:
        sessions = services_of(request.app).sessions
        await admin.change_role(
            ctx, sessions, checker, UUID(payload["user_id"]), payload["role"], audit
        )
        return 200

    async def reset_two_step(checker: Actor, payload: dict[str, Any], audit: AuditRecord) -> int:
        sessions = services_of(request.app).sessions
        await admin.reset_two_step(ctx, sessions, checker, UUID(payload["user_id"]), audit)
        return 200

    async def banking(checker: Actor, payload: dict[str, Any], audit: AuditRecord) -> int:
        """A cash deposit above the threshold, or a raise of limits (audit.action)."""
        approval = UUID(audit.details["approval_id"])
        meta = event_metadata(request, checker, None)
        result = await funding_handlers.run_approved(
            ctx, checker, audit.action, payload, approval, meta, audit
        )
        return result.status_code

    return {
        "unfreeze_account": unfreeze,
        "change_role": change_role,
        two_step.RESET_ACTION: reset_two_step,
        "deposit_cash": banking,
        "set_account_limits": banking,
    }


def approvals_hash(command: str, account: UUID) -> bytes:
    return request_hash(f"{command}:{account}", FreezeRequest())


class ApprovalController(Controller):
    path = "/api/v1/approvals"
    tags = ["approvals"]

    @get("/", operation_id="listApprovals")
    async def list_approvals(
        self, ctx: AppContext, actor: Actor, status: str | None = None
    ) -> ApprovalList:
        """Staff (teller, admin, auditor): the requests kept for a second staff member, newest
        first (at most 500), optionally only those of a ``status`` (pending, approved, rejected,
        expired). A request nobody decides expires after 24 hours."""
        return await approvals.list_requests(ctx, actor, status)

    @post("/{approval_id:str}/approve", operation_id="approveRequest", status_code=200)
    async def approve(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, approval_id: str
    ) -> ApprovalResponse:
        """A teller or admin other than its maker runs the request's command once, as themselves
        (with the rights it needs); the answer is the request with the command's ``result_status``.
        If the command is refused, that error is the answer and the request stays pending. 422
        ``approval_not_pending`` once decided or expired, unless the same approver retries."""
        audit = audit_record(request, "approval_approved", actor)
        return await approvals.approve(
            ctx, actor, parse_uuid(approval_id, "approval_id"), audit, executors(request, ctx)
        )

    @post("/{approval_id:str}/reject", operation_id="rejectRequest", status_code=200)
    async def reject(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, approval_id: str
    ) -> ApprovalResponse:
        """A teller or admin other than its maker refuses the request (an optional ``reason``): it
        is kept as rejected and its command never runs. 422 ``approval_not_pending`` once decided
        or expired, unless the same staff member retries."""
        body = await request.body()
        req = await decode_body(request, RejectRequest) if body else RejectRequest()
        audit = audit_record(request, "approval_rejected", actor)
        return await approvals.reject(
            ctx, actor, parse_uuid(approval_id, "approval_id"), req.reason, audit
        )
