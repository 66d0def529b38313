"""POST /api/v1/transfers."""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar import Controller, Request, Response, post

from server.api.accounts import command_response
from server.api.body import decode_body, event_metadata, idempotency_key
from server.api.security import audit_record
from server.application import handlers
from server.application.audit import AuditRecord
from server.application.context import Actor, AppContext
from shared.api import TransferRequest, TransferResponse
from shared.events import EventMetadata


def transfer_audit(
    request: Request[Any, Any, Any], actor: Actor, meta: EventMetadata, req: TransferRequest
) -> AuditRecord:
    """The audit record of a transfer (REST and GraphQL, by id or by account number):
    about the account debited, with the amount and the account credited."""
    return dataclasses.replace(
        audit_record(request, "transfer_money", actor, meta.trace_id).about_account(
            req.from_account_id
        ),
        details={"amount": req.amount, "to_account_id": str(req.to_account_id)},
    )


class TransferController(Controller):
    path = "/api/v1/transfers"
    tags = ["transfers"]

    @post("/", operation_id="transferMoney", status_code=201)
    async def transfer(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, data: TransferRequest
    ) -> Response[TransferResponse]:
        req = await decode_body(request, TransferRequest)
        idem = idempotency_key(request, actor, "transfer", req)
        meta = event_metadata(request, actor, idem)
        audit = transfer_audit(request, actor, meta, req)
        result = await handlers.transfer_money(ctx, actor, req, idem, meta, audit)
        return command_response(result)  # type: ignore[return-value]
