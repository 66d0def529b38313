"""Staff endpoints.

PUT /api/v1/admin/users/{id}/role   assign a role (admin)
POST /api/v1/admin/users/{id}/two-step/off   turn a customer's two-step sign-in off (admin)
GET /api/v1/admin/users?email=      look a user up by email (admin)
GET /api/v1/audit?actor=&account=&from=&to=&limit=&cursor=   the audit trail (auditor, admin)
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import Parameter

from server.adapters.audit import AuditRow
from server.adapters.users import UserRecord
from server.api.approvals import PENDING_RESPONSE, pending_role_change, pending_two_step_reset
from server.api.body import (
    BadRequestError,
    decode_body,
    idempotency_key,
    parse_instant,
    parse_uuid,
)
from server.api.bootstrap import services_of
from server.api.security import audit_record
from server.application import admin, two_step
from server.application.context import Actor, AppContext
from shared.api import Request as NoBody
from shared.money import INT64_MAX
from shared.security import (
    AuditEntry,
    AuditPage,
    RoleChangeRequest,
    TwoStepState,
    UserResponse,
)

MAX_AUDIT_PAGE = 500


def _user(u: UserRecord) -> UserResponse:
    return UserResponse(id=u.id, email=u.email, full_name=u.full_name, role=u.role)


def _entry(r: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=r.id,
        occurred_at=r.occurred_at,
        action=r.action,
        outcome=r.outcome,
        actor_id=r.actor_id,
        actor_role=r.actor_role,
        session_id=r.session_id,
        target_type=r.target_type,
        target_id=r.target_id,
        account_id=r.account_id,
        reason_code=r.reason_code,
        client_ip=r.client_ip,
        user_agent=r.user_agent,
        trace_id=r.trace_id,
        details=msgspec.json.decode(r.details),
    )


class AdminController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]

    @put(
        "/users/{user_id:str}/role",
        operation_id="changeRole",
        status_code=200,
        responses=PENDING_RESPONSE,
    )
    async def change_role(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        user_id: str,
        data: RoleChangeRequest,
    ) -> UserResponse:
        """Admin only: give another user (not yourself: 403) a ``role``, ending their sessions so
        that their next sign-in carries it; 404 ``user_not_found`` if there is none. While the bank
        requires four eyes for it (the default) the answer is 202 with the ``approval_id`` and the
        change runs when another admin approves it."""
        target = parse_uuid(user_id, "user_id")
        req = await decode_body(request, RoleChangeRequest)
        idem = idempotency_key(request, actor, f"change_role:{target}", req, required=False)
        if held := await pending_role_change(request, ctx, actor, target, req.role, idem):
            return held  # type: ignore[return-value]  # maker-checker: 202 with the request id
        user = await admin.change_role(
            ctx,
            services_of(request.app).sessions,
            actor,
            target,
            req.role,
            audit_record(request, "change_role", actor),
        )
        return _user(user)

    @post(
        "/users/{user_id:str}/two-step/off",
        operation_id="resetTwoStep",
        status_code=200,
        responses=PENDING_RESPONSE,
    )
    async def reset_two_step(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, user_id: str
    ) -> TwoStepState:
        """Admin only: turn off the two-step sign-in of a customer who lost their authenticator
        app, once the bank has made sure it is them who asks. Their sessions end and they are
        notified (``two_step_off``); they sign in with their password and can set it up again.
        Not your own (403: use a code in Settings); 404 ``user_not_found``. Off already: the
        same answer. While the bank requires four eyes for it (the default) the answer is 202
        with the ``approval_id`` and it is done when another admin approves it."""
        target = parse_uuid(user_id, "user_id")
        # no body: the command is its path
        command = f"{two_step.RESET_ACTION}:{target}"
        idem = idempotency_key(request, actor, command, NoBody(), required=False)
        if held := await pending_two_step_reset(request, ctx, actor, target, idem):
            return held  # type: ignore[return-value]  # maker-checker: 202 with the request id
        await admin.reset_two_step(
            ctx,
            services_of(request.app).sessions,
            actor,
            target,
            audit_record(request, two_step.RESET_ACTION, actor),
        )
        return TwoStepState(two_step=False)

    @get("/users", operation_id="findUser")
    async def find_user(
        self,
        ctx: AppContext,
        actor: Actor,
        email: Annotated[str, Parameter(min_length=3, max_length=254)],
    ) -> UserResponse:
        """Admin only: the user with this ``email`` (in any case), with their id, name and role;
        404 ``user_not_found`` if there is none."""
        return _user(await admin.find_user(ctx, actor, email))


# The audit window's bounds: ISO 8601 date-times, parsed by parse_instant (Litestar
# would also read a plain number such as 0.5 as a Unix time).
_FROM = Parameter(query="from", schema_extra={"format": "date-time"})
_TO = Parameter(query="to", schema_extra={"format": "date-time"})


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("/", operation_id="searchAuditTrail")
    async def search(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        actor_filter: Annotated[str | None, Parameter(query="actor")] = None,
        account: str | None = None,
        since: Annotated[str | None, _FROM] = None,
        until: Annotated[str | None, _TO] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_AUDIT_PAGE)] = 100,
        cursor: str | None = None,
    ) -> AuditPage:
        """Auditor or admin: the audit trail, newest first, ``limit`` (1 to 500, default 100) a
        page; send ``next_cursor`` as ``cursor`` for the next. Filters: ``actor`` (a user id),
        ``account`` (an account id), ``from`` (inclusive) and ``to`` (exclusive) as ISO 8601
        date-times. Each search is itself audited."""
        before_id = None
        if cursor is not None:
            if not cursor.isdigit() or len(cursor) > 19 or int(cursor) > INT64_MAX:
                raise BadRequestError(
                    "cursor must be a next_cursor from a previous page.", "invalid_cursor"
                )
            before_id = int(cursor)
        actor_id: UUID | None = parse_uuid(actor_filter, "actor") if actor_filter else None
        account_id: UUID | None = parse_uuid(account, "account") if account else None
        rows = await admin.search_audit_trail(
            ctx,
            actor,
            audit_record(request, "read_audit_trail", actor),
            actor_id=actor_id,
            account_id=account_id,
            since=parse_instant(since, "from") if since else None,
            until=parse_instant(until, "to") if until else None,
            before_id=before_id,
            limit=limit,
        )
        next_cursor = str(rows[-1].id) if len(rows) == limit else None
        return AuditPage(items=[_entry(r) for r in rows], next_cursor=next_cursor)
