"""POST /api/v1/transfers."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from server.api.accounts import command_response
from server.api.body import decode_body, event_metadata, idempotency_key
from server.application import handlers
from server.application.context import Actor, AppContext
from shared.api import TransferRequest, TransferResponse


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
        return command_response(await handlers.transfer_money(ctx, actor, req, idem, meta))  # type: ignore[return-value]
