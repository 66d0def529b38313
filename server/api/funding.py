"""Issue #17 on an account: money coming in (a teller's cash deposit, a customer's
development top-up; ``/deposits`` picks by role), its limits as anyone who may read it
sees them, and staff setting them. A large cash deposit and a raised limit wait for a
second member of staff (202)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post, put

from server.api.account_ids import resolve_account
from server.api.accounts import CASH_DEPOSIT, TOP_UP, command_response, move
from server.api.approvals import PENDING_RESPONSE
from server.api.body import decode_body, event_metadata, idempotency_key
from server.api.security import audit_record
from server.application import funding_handlers
from server.application.context import Actor, AppContext
from server.queries import limits
from shared.api import (
    AccountLimitsRequest,
    AccountLimitsResponse,
    MoneyMovementRequest,
    MoneyMovementResponse,
)


class FundingController(Controller):
    path = "/api/v1/accounts"
    tags = ["accounts"]

    @post(
        CASH_DEPOSIT.path,
        operation_id=CASH_DEPOSIT.operation_id,
        status_code=201,
        responses=PENDING_RESPONSE,
    )
    async def deposit_cash(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        data: MoneyMovementRequest,
    ) -> Response[MoneyMovementResponse]:
        """A teller records cash paid in at the desk into a customer's account; above the
        four-eyes threshold it answers 202 and is credited when another member of staff
        approves it (POST /api/v1/approvals/{id}/approve)."""
        return await move(request, ctx, actor, account_id, CASH_DEPOSIT)  # type: ignore[return-value]

    @post(TOP_UP.path, operation_id=TOP_UP.operation_id, status_code=201)
    async def top_up(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        data: MoneyMovementRequest,
    ) -> Response[MoneyMovementResponse]:
        """Development mode only: a customer adds money from outside to their own
        account, up to a daily cap; production answers 403 ``top_ups_disabled``."""
        return await move(request, ctx, actor, account_id, TOP_UP)  # type: ignore[return-value]

    @get("/{account_id:str}/limits", operation_id="getAccountLimits")
    async def get_limits(
        self, ctx: AppContext, actor: Actor, account_id: str
    ) -> AccountLimitsResponse:
        """The account's outgoing limits (minor units; null: none but the bank-wide
        maximum) and what may still leave it today (UTC) under the daily one."""
        return await limits.get_limits(ctx, actor, await resolve_account(ctx, account_id))

    @put(
        "/{account_id:str}/limits",
        operation_id="setAccountLimits",
        status_code=200,
        responses=PENDING_RESPONSE,
    )
    async def set_limits(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        data: AccountLimitsRequest,
    ) -> Response[AccountLimitsResponse]:
        """Staff (teller, admin) set the account's per-payment and daily outgoing limits.
        Lowering takes effect at once; raising either answers 202 and takes effect when
        another member of staff approves it."""
        account = await resolve_account(ctx, account_id)
        req = await decode_body(request, AccountLimitsRequest)
        idem = idempotency_key(request, actor, f"limits:{account}", req, required=False)
        meta = event_metadata(request, actor, idem)
        audit = msgspec.structs.replace(
            audit_record(request, "set_account_limits", actor, meta.trace_id).about_account(
                account
            ),
            details={"per_transaction": req.per_transaction, "daily_outgoing": req.daily_outgoing},
        )
        result = await funding_handlers.set_account_limits(
            ctx, actor, account, req, idem, meta, audit
        )
        return command_response(result)  # type: ignore[return-value]
