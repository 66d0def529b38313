"""Holds on an account (issue #17 item 2, TigerBeetle's two-phase transfers): place a
hold (card-style, or a pending transfer to another account), post it in full or for
less, void it, and list the pending ones. A hold nobody posts or voids expires by
itself (the scheduler, server/application/holds.py)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post

from server.api.account_ids import resolve_account
from server.api.accounts import command_response
from server.api.body import decode_body, event_metadata, idempotency_key, parse_uuid
from server.api.security import audit_record
from server.application import holds
from server.application.audit import AuditRecord
from server.application.context import Actor, AppContext
from server.queries import holds as hold_queries
from shared.api import HoldList, HoldResponse, PlaceHoldRequest, PostHoldRequest


def about_hold(record: AuditRecord, account: Any, hold_id: Any, **details: Any) -> AuditRecord:
    """The audit record of a hold command (REST and GraphQL alike): the account and the hold."""
    return msgspec.structs.replace(
        record.about_account(account), target_type="hold", target_id=str(hold_id), details=details
    )


class HoldController(Controller):
    path = "/api/v1/accounts"
    tags = ["holds"]

    @post("/{account_id:str}/holds", operation_id="placeHold", status_code=201)
    async def place(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        data: PlaceHoldRequest,
    ) -> Response[HoldResponse]:
        """Hold money on the account: its available balance drops, its ledger balance
        does not. With ``to_account`` the hold is a pending transfer to that account."""
        account = await resolve_account(ctx, account_id)
        req = await decode_body(request, PlaceHoldRequest)
        to = await resolve_account(ctx, req.to_account, "to_account") if req.to_account else None
        idem = idempotency_key(request, actor, f"place_hold:{account}", req)
        meta = event_metadata(request, actor, idem)
        audit = msgspec.structs.replace(
            audit_record(request, "place_hold", actor, meta.trace_id).about_account(account),
            details={"amount": req.amount},
        )
        result = await holds.place_hold_command(ctx, actor, account, req, to, idem, meta, audit)
        return command_response(result)  # type: ignore[return-value]

    @get("/{account_id:str}/holds", operation_id="listHolds")
    async def list_pending(self, ctx: AppContext, actor: Actor, account_id: str) -> HoldList:
        """The account's pending holds, oldest first (posted, voided and expired ones
        are gone from here; a posted hold's money is in the history)."""
        return await hold_queries.pending_holds(ctx, actor, await resolve_account(ctx, account_id))

    @post("/{account_id:str}/holds/{hold_id:str}/post", operation_id="postHold", status_code=200)
    async def post_hold(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        hold_id: str,
    ) -> Response[HoldResponse]:
        """Post a pending hold: in full (no body, or no ``amount``) or for less; the
        ledger is debited what is posted and the whole hold is released."""
        account = await resolve_account(ctx, account_id)
        hold = parse_uuid(hold_id, "hold_id")
        body = await request.body()
        req = await decode_body(request, PostHoldRequest) if body else PostHoldRequest()
        idem = idempotency_key(request, actor, f"post_hold:{account}:{hold}", req)
        meta = event_metadata(request, actor, idem)
        audit = about_hold(
            audit_record(request, "post_hold", actor, meta.trace_id),
            account,
            hold,
            amount=req.amount,
        )
        result = await holds.post_hold_command(ctx, actor, account, hold, req, idem, meta, audit)
        return command_response(result)  # type: ignore[return-value]

    @post("/{account_id:str}/holds/{hold_id:str}/void", operation_id="voidHold", status_code=200)
    async def void(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        hold_id: str,
    ) -> Response[HoldResponse]:
        """Void a pending hold: its amount is available again; no money moves."""
        account = await resolve_account(ctx, account_id)
        hold = parse_uuid(hold_id, "hold_id")
        idem = idempotency_key(request, actor, f"void_hold:{account}:{hold}", PostHoldRequest())
        meta = event_metadata(request, actor, idem)
        audit = about_hold(audit_record(request, "void_hold", actor, meta.trace_id), account, hold)
        result = await holds.void_hold_command(ctx, actor, account, hold, idem, meta, audit)
        return command_response(result)  # type: ignore[return-value]
