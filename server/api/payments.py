"""POST /api/v1/transfers/by-account-number (issue #17): a transfer to the account
number a person typed. The accounts are resolved to their internal ids and the
transfer is the same command as POST /api/v1/transfers (same idempotency scope, so
a retry through either path with the same key is answered once)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from server.api.account_ids import resolve_payment
from server.api.accounts import command_response
from server.api.body import decode_body, event_metadata, idempotency_key
from server.api.transfers import transfer_audit
from server.application import handlers
from server.application.context import Actor, AppContext
from shared.api import TransferByNumberRequest, TransferRequest, TransferResponse


class TransferByNumberController(Controller):
    path = "/api/v1/transfers/by-account-number"
    tags = ["transfers"]

    @post("/", operation_id="transferToAccountNumber", status_code=201)
    async def transfer(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        data: TransferByNumberRequest,
    ) -> Response[TransferResponse]:
        """A transfer to the account number a person typed (spaces allowed), from one of your
        accounts by number or id: the same command as ``POST /api/v1/transfers``, and the same
        ``Idempotency-Key`` (required) through either path is answered once. A mistyped number is
        422 ``invalid_account_number``; one nobody holds, 404 ``account_not_found``."""
        body = await decode_body(request, TransferByNumberRequest)
        source, target = await resolve_payment(ctx, body.from_account, body.to_account_number)
        req = TransferRequest(
            from_account_id=source,
            to_account_id=target,
            amount=body.amount,
            description=body.description,
            currency=body.currency,
        )
        idem = idempotency_key(request, actor, "transfer", req)
        meta = event_metadata(request, actor, idem)
        audit = transfer_audit(request, actor, meta, req)
        result = await handlers.transfer_money(ctx, actor, req, idem, meta, audit)
        return command_response(result)  # type: ignore[return-value]
