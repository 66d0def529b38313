"""Holds over GraphQL (issue #17 item 2): place, post and void a hold and list the
pending ones, through the same application functions, idempotency scopes, audit
records and codes as REST's HoldController (server/api/holds.py), so a retry over
either protocol with the same key is answered once."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
import strawberry
from strawberry.types import Info

from server.api.account_ids import resolve_account
from server.api.body import event_metadata
from server.api.holds import about_hold
from server.api.security import audit_record
from server.application import holds
from server.graphql import types as t
from server.graphql.context import BankContext, actor_of
from server.graphql.mutations import KEY_HELP, _request, _result, caller, command_key
from server.queries import holds as hold_queries
from shared import api

BankInfo = Info[BankContext, None]
TO_ACCOUNT_HELP = (
    "Make the hold a pending transfer to this account (its id or account number);"
    " without it the hold is card-style and posting it withdraws the money."
)


@strawberry.type
class HoldQuery:
    @strawberry.field(description="The account's pending holds, oldest first.")
    async def holds(self, info: BankInfo, account_id: UUID) -> list[t.PendingHold]:
        actor = await actor_of(info.context)
        found = await hold_queries.pending_holds(info.context.services.ctx, actor, account_id)
        return [t.PendingHold.of(h) for h in found.items]


@strawberry.type
class HoldMutation:
    @strawberry.mutation(
        description="Hold money on the account: its available balance drops, its ledger"
        " balance does not (REST: POST /api/v1/accounts/{id}/holds)."
    )
    async def place_hold(
        self,
        info: BankInfo,
        account_id: UUID,
        amount: t.MinorUnits,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY_HELP)],
        description: str = "",
        currency: str | None = None,
        to_account: Annotated[str | None, strawberry.argument(description=TO_ACCOUNT_HELP)] = None,
        expires_in_seconds: int | None = None,
    ) -> t.Hold:
        actor, request = await caller(info, moves_money=True)
        ctx = info.context.services.ctx
        req = _request(
            api.PlaceHoldRequest,
            amount=amount,
            description=description,
            currency=currency,
            to_account=to_account,
            expires_in_seconds=expires_in_seconds,
        )
        to = await resolve_account(ctx, req.to_account, "to_account") if req.to_account else None
        idem = command_key(actor, f"place_hold:{account_id}", req, idempotency_key)
        meta = event_metadata(request, actor, idem)
        audit = msgspec.structs.replace(
            audit_record(request, "place_hold", actor, meta.trace_id).about_account(account_id),
            details={"amount": req.amount},
        )
        result = await holds.place_hold_command(ctx, actor, account_id, req, to, idem, meta, audit)
        return t.Hold.of(_result(result, api.HoldResponse), result.replayed)

    @strawberry.mutation(
        description="Post a pending hold in full (no amount) or for less; the whole hold"
        " is released (REST: POST .../holds/{holdId}/post)."
    )
    async def post_hold(
        self,
        info: BankInfo,
        account_id: UUID,
        hold_id: UUID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY_HELP)],
        amount: t.MinorUnits | None = None,
    ) -> t.Hold:
        actor, request = await caller(info, moves_money=True)
        fields = {} if amount is None else {"amount": amount}
        req = _request(api.PostHoldRequest, **fields)
        idem = command_key(actor, f"post_hold:{account_id}:{hold_id}", req, idempotency_key)
        meta = event_metadata(request, actor, idem)
        audit = about_hold(
            audit_record(request, "post_hold", actor, meta.trace_id),
            account_id,
            hold_id,
            amount=req.amount,
        )
        ctx = info.context.services.ctx
        result = await holds.post_hold_command(
            ctx, actor, account_id, hold_id, req, idem, meta, audit
        )
        return t.Hold.of(_result(result, api.HoldResponse), result.replayed)

    @strawberry.mutation(
        description="Void a pending hold: its amount is available again; no money moves"
        " (REST: POST .../holds/{holdId}/void)."
    )
    async def void_hold(
        self,
        info: BankInfo,
        account_id: UUID,
        hold_id: UUID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY_HELP)],
    ) -> t.Hold:
        actor, request = await caller(info)
        scope = f"void_hold:{account_id}:{hold_id}"
        idem = command_key(actor, scope, api.PostHoldRequest(), idempotency_key)
        meta = event_metadata(request, actor, idem)
        audit = about_hold(
            audit_record(request, "void_hold", actor, meta.trace_id), account_id, hold_id
        )
        ctx = info.context.services.ctx
        result = await holds.void_hold_command(ctx, actor, account_id, hold_id, idem, meta, audit)
        return t.Hold.of(_result(result, api.HoldResponse), result.replayed)
