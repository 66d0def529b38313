"""POST /api/v1/transfers/batch: up to 8,190 transfers in one request and one transaction."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post

from server.api.body import decode_body, event_metadata
from server.api.security import audit_record
from server.application import handlers
from server.application.context import Actor, AppContext
from shared.api import BatchTransferRequest, BatchTransferResponse

# 8,190 items of ~200 bytes of JSON each, with room to spare; the app-wide limit is 64 KiB.
BATCH_MAX_BODY_BYTES = 4 * 1024 * 1024

_encoder = msgspec.json.Encoder()


class BatchTransferController(Controller):
    path = "/api/v1/transfers/batch"
    tags = ["transfers"]

    @post(
        "/",
        operation_id="transferMoneyBatch",
        status_code=200,
        request_max_body_size=BATCH_MAX_BODY_BYTES,
    )
    async def transfer_batch(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        data: BatchTransferRequest,
    ) -> Response[BatchTransferResponse]:
        """Each item's ``id`` is its idempotency key; the answer has one result per item,
        in order. Items with ``linked: true`` succeed or fail with the next one."""
        req = await decode_body(request, BatchTransferRequest)
        meta = event_metadata(request, actor, None)
        audit = audit_record(request, "transfer_money", actor, meta.trace_id)
        result = await handlers.transfer_batch(ctx, actor, req, meta, audit)
        # Encoded here (one pass over up to 8,190 results); the annotation documents the
        # body for OpenAPI, and Litestar's Response[T] typing cannot see bytes are that T.
        body = _encoder.encode(result)
        return Response(content=body, media_type="application/json")  # type: ignore[arg-type]
