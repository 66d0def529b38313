"""Payees (issue #17): a customer's saved beneficiaries.

GET    /api/v1/payees                    yours, by nickname
POST   /api/v1/payees                    save one (confirmation of payee answers)
DELETE /api/v1/payees/{account_number}   forget one (the number or the account id)
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post

from server.api.account_ids import resolve_account
from server.api.body import decode_body, event_metadata
from server.api.security import audit_record
from server.application import payees
from server.application.access import check_may_open_account
from server.application.context import Actor, AppContext
from shared.api import AddPayeeRequest, PayeeList, PayeeResponse


class PayeeController(Controller):
    path = "/api/v1/payees"
    tags = ["payees"]

    @get("/", operation_id="listPayees")
    async def list_payees(self, ctx: AppContext, actor: Actor) -> PayeeList:
        """Your saved beneficiaries, by nickname (the holders' names are never shown)."""
        return await payees.list_payees(ctx, actor)

    @post("/", operation_id="addPayee", status_code=201)
    async def add_payee(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, data: AddPayeeRequest
    ) -> PayeeResponse:
        """Save a beneficiary; the answer says whether the holder name typed matches
        (match / close_match / no_match) without revealing the real name."""
        check_may_open_account(actor)  # auditors are read-only
        req = await decode_body(request, AddPayeeRequest)
        meta = event_metadata(request, actor, None)
        audit = msgspec.structs.replace(
            audit_record(request, "add_payee", actor, meta.trace_id),
            details={"nickname": req.nickname},
        )
        return await payees.add_payee(ctx, actor, req, audit)

    @delete("/{account_number:str}", operation_id="removePayee", status_code=204)
    async def remove_payee(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, account_number: str
    ) -> None:
        """Forget a saved beneficiary; 404 ``payee_not_found`` if it is not one of yours."""
        check_may_open_account(actor)  # auditors are read-only
        account = await resolve_account(ctx, account_number, "account_number")
        audit = audit_record(request, "remove_payee", actor)
        await payees.remove_payee(ctx, actor, account, audit)
