"""Standing orders (issue #17 item 4).

POST /api/v1/standing-orders              create (from one of your accounts; an optional
                                          Idempotency-Key makes retries safe)
POST /api/v1/standing-orders/by-account-number
                                          the same, the destination named by its account
                                          number (the source by number or id), as for
                                          POST /transfers/by-account-number; the same key
                                          through either path is the same order
GET  /api/v1/standing-orders              yours
GET  /api/v1/standing-orders/{id}         one, with every occurrence (paid or refused)
POST /api/v1/standing-orders/{id}/cancel  no further payments
POST /api/v1/standing-orders/{id}/resume  a suspended order pays again from its next date
PATCH /api/v1/standing-orders/{id}        a new amount (and reference) from the next payment on
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post

from server.api.account_ids import resolve_payment
from server.api.body import decode_body, idempotency_key, parse_uuid
from server.api.security import audit_record
from server.application import standing_orders
from server.application.context import Actor, AppContext
from shared.standing_orders import (
    StandingOrderByNumberRequest,
    StandingOrderChange,
    StandingOrderList,
    StandingOrderRequest,
    StandingOrderResponse,
)

# The command, as audited and as an Idempotency-Key is bound to it (optional here: with a
# key, a retry answers the order the key created).
CREATE = "create_standing_order"


async def by_account_ids(
    ctx: AppContext, body: StandingOrderByNumberRequest
) -> StandingOrderRequest:
    """The order with its accounts resolved to their ids."""
    source, target = await resolve_payment(ctx, body.from_account, body.to_account_number)
    return StandingOrderRequest(
        from_account_id=source,
        to_account_id=target,
        amount=body.amount,
        frequency=body.frequency,
        start_date=body.start_date,
        end_date=body.end_date,
        count=body.count,
        description=body.description,
        currency=body.currency,
    )


class StandingOrderController(Controller):
    path = "/api/v1/standing-orders"
    tags = ["standing-orders"]

    @post("/", operation_id="createStandingOrder", status_code=201)
    async def create(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        data: StandingOrderRequest,
    ) -> StandingOrderResponse:
        req = await decode_body(request, StandingOrderRequest)
        idem = idempotency_key(request, actor, CREATE, req, required=False)
        audit = audit_record(request, CREATE, actor)
        return await standing_orders.create(ctx, actor, req, audit, idem)

    @post("/by-account-number", operation_id="createStandingOrderToAccountNumber", status_code=201)
    async def create_by_number(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        data: StandingOrderByNumberRequest,
    ) -> StandingOrderResponse:
        body = await decode_body(request, StandingOrderByNumberRequest)
        req = await by_account_ids(ctx, body)
        idem = idempotency_key(request, actor, CREATE, req, required=False)
        audit = audit_record(request, CREATE, actor)
        return await standing_orders.create(ctx, actor, req, audit, idem)

    @get("/", operation_id="listStandingOrders")
    async def list_orders(self, ctx: AppContext, actor: Actor) -> StandingOrderList:
        return await standing_orders.list_orders(ctx, actor)

    @get("/{order_id:str}", operation_id="getStandingOrder")
    async def get_order(
        self, ctx: AppContext, actor: Actor, order_id: str
    ) -> StandingOrderResponse:
        return await standing_orders.get_order(ctx, actor, parse_uuid(order_id, "order_id"))

    @post("/{order_id:str}/cancel", operation_id="cancelStandingOrder", status_code=200)
    async def cancel(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, order_id: str
    ) -> StandingOrderResponse:
        audit = audit_record(request, standing_orders.CANCEL_ACTION, actor)
        return await standing_orders.cancel(ctx, actor, parse_uuid(order_id, "order_id"), audit)

    @post("/{order_id:str}/resume", operation_id="resumeStandingOrder", status_code=200)
    async def resume(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, order_id: str
    ) -> StandingOrderResponse:
        audit = audit_record(request, standing_orders.RESUME_ACTION, actor)
        return await standing_orders.resume(ctx, actor, parse_uuid(order_id, "order_id"), audit)

    @patch("/{order_id:str}", operation_id="changeStandingOrder", status_code=200)
    async def change(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        order_id: str,
        data: StandingOrderChange,
    ) -> StandingOrderResponse:
        req = await decode_body(request, StandingOrderChange)
        audit = audit_record(request, standing_orders.CHANGE_ACTION, actor)
        order = parse_uuid(order_id, "order_id")
        return await standing_orders.change(ctx, actor, order, req, audit)
