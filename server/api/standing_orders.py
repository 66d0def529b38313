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
        """Pay ``amount`` (integer minor units) from one of your accounts to another from
        ``start_date`` (UTC, today or later): once, or weekly or monthly until ``end_date`` or
        ``count`` payments. ``Idempotency-Key`` is optional: a retry with it answers the order it
        made. 422 ``invalid_schedule``, ``same_account``, ``account_closed``."""
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
        """A standing order to the account number a person typed (spaces allowed), from one of your
        accounts by number or id; the same ``Idempotency-Key`` here or through the path by account
        ids is the same order. A mistyped number is 422 ``invalid_account_number``; one nobody
        holds, 404 ``account_not_found``."""
        body = await decode_body(request, StandingOrderByNumberRequest)
        req = await by_account_ids(ctx, body)
        idem = idempotency_key(request, actor, CREATE, req, required=False)
        audit = audit_record(request, CREATE, actor)
        return await standing_orders.create(ctx, actor, req, audit, idem)

    @get("/", operation_id="listStandingOrders")
    async def list_orders(self, ctx: AppContext, actor: Actor) -> StandingOrderList:
        """Your standing orders, oldest first, each with its ``status``, ``next_due`` date and
        destination's ``to_account_number`` (one order's answer lists its occurrences)."""
        return await standing_orders.list_orders(ctx, actor)

    @get("/{order_id:str}", operation_id="getStandingOrder")
    async def get_order(
        self, ctx: AppContext, actor: Actor, order_id: str
    ) -> StandingOrderResponse:
        """One standing order with every occurrence (paid, or refused with the rule's code), for
        its owner and staff; anyone else's is 404 ``standing_order_not_found``."""
        return await standing_orders.get_order(ctx, actor, parse_uuid(order_id, "order_id"))

    @post("/{order_id:str}/cancel", operation_id="cancelStandingOrder", status_code=200)
    async def cancel(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, order_id: str
    ) -> StandingOrderResponse:
        """No further payments (an order cancelled already is answered as it is)."""
        audit = audit_record(request, standing_orders.CANCEL_ACTION, actor)
        return await standing_orders.cancel(ctx, actor, parse_uuid(order_id, "order_id"), audit)

    @post("/{order_id:str}/resume", operation_id="resumeStandingOrder", status_code=200)
    async def resume(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, order_id: str
    ) -> StandingOrderResponse:
        """A suspended order (refused three times in a row) pays again from its first date
        on or after today; the dates missed meanwhile are not paid late and still count
        towards ``count``. An active order is answered as it is (a retry)."""
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
        """A new amount, and reference if given, for every payment from the next one on;
        the same values again change nothing. 409 ``standing_order_ended`` for an order that
        pays no more."""
        req = await decode_body(request, StandingOrderChange)
        audit = audit_record(request, standing_orders.CHANGE_ACTION, actor)
        order = parse_uuid(order_id, "order_id")
        return await standing_orders.change(ctx, actor, order, req, audit)
