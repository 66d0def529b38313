"""Standing orders over GraphQL (issue #17 item 4): list, read one with its
occurrences, create and cancel, through the same application functions, audit
records and codes as REST's StandingOrderController (server/api/standing_orders.py).
As over REST, creating one takes no idempotency key: it moves no money itself, and
each occurrence is paid under its own key (the order and the date)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.types import Info

from server.api.security import audit_record
from server.api.standing_orders import CREATE, by_account_ids
from server.application import standing_orders
from server.graphql import types as t
from server.graphql.context import BankContext, actor_of
from server.graphql.mutations import KEY_HELP, _request, caller, command_key
from shared.standing_orders import (
    StandingOrderByNumberRequest,
    StandingOrderChange,
    StandingOrderRequest,
)

BankInfo = Info[BankContext, None]


@strawberry.type
class StandingOrderQuery:
    @strawberry.field(description="Your standing orders, oldest first.")
    async def standing_orders(self, info: BankInfo) -> list[t.StandingOrder]:
        actor = await actor_of(info.context)
        found = await standing_orders.list_orders(info.context.services.ctx, actor)
        return [t.StandingOrder.of(o) for o in found.items]

    @strawberry.field(description="One standing order with every occurrence so far.")
    async def standing_order(self, info: BankInfo, id: UUID) -> t.StandingOrderDetail:
        actor = await actor_of(info.context)
        found = await standing_orders.get_order(info.context.services.ctx, actor, id)
        return t.StandingOrderDetail.detail_of(found)


@strawberry.type
class StandingOrderMutation:
    @strawberry.mutation(
        description="Pay amount from one of your accounts to another on startDate, then"
        " weekly or monthly until endDate or count payments (a recurring order needs one)."
    )
    async def create_standing_order(
        self,
        info: BankInfo,
        from_account_id: UUID,
        to_account_id: UUID,
        amount: t.MinorUnits,
        frequency: t.Frequency,
        start_date: dt.date,
        end_date: dt.date | None = None,
        count: int | None = None,
        description: str = "",
        currency: str | None = None,
        idempotency_key: Annotated[str | None, strawberry.argument(description=KEY_HELP)] = None,
    ) -> t.StandingOrder:
        actor, request = await caller(info)
        req = _request(
            StandingOrderRequest,
            from_account_id=str(from_account_id),
            to_account_id=str(to_account_id),
            amount=amount,
            frequency=frequency.value,
            start_date=start_date.isoformat(),
            end_date=end_date.isoformat() if end_date else None,
            count=count,
            description=description,
            currency=currency,
        )
        idem = command_key(actor, CREATE, req, idempotency_key, required=False)
        audit = audit_record(request, CREATE, actor)
        ctx = info.context.services.ctx
        created = await standing_orders.create(ctx, actor, req, audit, idem)
        return t.StandingOrder.of(created)

    @strawberry.mutation(
        description="The same order to an account number (the source by its id or number),"
        " as payToAccountNumber is a transfer; the same key through either mutation or REST"
        " is the same order."
    )
    async def create_standing_order_to_account_number(
        self,
        info: BankInfo,
        from_account: Annotated[
            str, strawberry.argument(description="Your account: its id or account number.")
        ],
        to_account_number: str,
        amount: t.MinorUnits,
        frequency: t.Frequency,
        start_date: dt.date,
        end_date: dt.date | None = None,
        count: int | None = None,
        description: str = "",
        currency: str | None = None,
        idempotency_key: Annotated[str | None, strawberry.argument(description=KEY_HELP)] = None,
    ) -> t.StandingOrder:
        actor, request = await caller(info)
        ctx = info.context.services.ctx
        body = _request(
            StandingOrderByNumberRequest,
            from_account=from_account,
            to_account_number=to_account_number,
            amount=amount,
            frequency=frequency.value,
            start_date=start_date.isoformat(),
            end_date=end_date.isoformat() if end_date else None,
            count=count,
            description=description,
            currency=currency,
        )
        req = await by_account_ids(ctx, body)
        idem = command_key(actor, CREATE, req, idempotency_key, required=False)
        audit = audit_record(request, CREATE, actor)
        created = await standing_orders.create(ctx, actor, req, audit, idem)
        return t.StandingOrder.of(created)

    @strawberry.mutation(description="Cancel a standing order: no further payments.")
    async def cancel_standing_order(self, info: BankInfo, id: UUID) -> t.StandingOrder:
        actor, request = await caller(info)
        audit = audit_record(request, standing_orders.CANCEL_ACTION, actor)
        cancelled = await standing_orders.cancel(info.context.services.ctx, actor, id, audit)
        return t.StandingOrder.of(cancelled)

    @strawberry.mutation(
        description="Resume a suspended standing order: it pays again from its next date"
        " on or after today; the payments missed while suspended are not made."
    )
    async def resume_standing_order(self, info: BankInfo, id: UUID) -> t.StandingOrder:
        actor, request = await caller(info)
        audit = audit_record(request, standing_orders.RESUME_ACTION, actor)
        resumed = await standing_orders.resume(info.context.services.ctx, actor, id, audit)
        return t.StandingOrder.of(resumed)

    @strawberry.mutation(
        description="A new amount for every payment from the order's next one on, and a"
        " new reference if given (left out: kept); the same values again change nothing."
    )
    async def change_standing_order(
        self,
        info: BankInfo,
        id: UUID,
        amount: t.MinorUnits,
        description: str | None = None,
    ) -> t.StandingOrder:
        actor, request = await caller(info)
        req = _request(StandingOrderChange, amount=amount, description=description)
        audit = audit_record(request, standing_orders.CHANGE_ACTION, actor)
        changed = await standing_orders.change(info.context.services.ctx, actor, id, req, audit)
        return t.StandingOrder.of(changed)
