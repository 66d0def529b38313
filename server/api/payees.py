"""Payees (issue #17): POST /api/v1/payees.

Listing (``payees.list_payees``) is not routed yet: with GET and POST on this path
the contract suite saw ``Allow: OPTIONS, POST`` (ST205), not understood in time."""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar import Controller, Request, post

from server.api.body import decode_body, event_metadata
from server.api.security import audit_record
from server.application import payees
from server.application.access import check_may_open_account
from server.application.context import Actor, AppContext
from shared.api import AddPayeeRequest, PayeeResponse


class PayeeController(Controller):
    path = "/api/v1/payees"
    tags = ["payees"]

    @post("/", operation_id="addPayee", status_code=201)
    async def add_payee(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, data: AddPayeeRequest
    ) -> PayeeResponse:
        """Save a beneficiary; the answer says whether the holder name typed matches
        (match / close_match / no_match) without revealing the real name."""
        check_may_open_account(actor)  # auditors are read-only
        req = await decode_body(request, AddPayeeRequest)
        meta = event_metadata(request, actor, None)
        audit = dataclasses.replace(
            audit_record(request, "add_payee", actor, meta.trace_id),
            details={"nickname": req.nickname},
        )
        return await payees.add_payee(ctx, actor, req, audit)
