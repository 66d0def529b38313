"""POST /api/v1/transfers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, Response, post

from server.api.accounts import command_response
from server.api.body import decode_body, event_metadata, idempotency_key
from server.api.security import audit_record
from server.application import handlers
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult
from server.application.context import Actor, AppContext
from server.application.idempotency import IdempotencyKey
from shared.api import TransferRequest, TransferResponse
from shared.events import EventMetadata


def transfer_audit(
    request: Request[Any, Any, Any], actor: Actor, meta: EventMetadata, req: TransferRequest
) -> AuditRecord:
    """The audit record of a transfer (REST and GraphQL, by id or by account number):
    about the account debited, with the amount and the account credited."""
    return msgspec.structs.replace(
        audit_record(request, "transfer_money", actor, meta.trace_id).about_account(
            req.from_account_id
        ),
        details={"amount": req.amount, "to_account_id": str(req.to_account_id)},
    )


@dataclass(frozen=True, slots=True)
class Transfer:
    """What a transfer request asked: the body, the key, the metadata, the audit record."""

    req: TransferRequest
    idem: IdempotencyKey | None
    meta: EventMetadata
    audit: AuditRecord


async def read_transfer(request: Request[Any, Any, Any], actor: Actor) -> Transfer:
    req = await decode_body(request, TransferRequest)
    idem = idempotency_key(request, actor, "transfer", req)
    meta = event_metadata(request, actor, idem)
    return Transfer(req, idem, meta, transfer_audit(request, actor, meta, req))


async def transfer_result(ctx: AppContext, actor: Actor, t: Transfer) -> CommandResult:
    return await handlers.transfer_money(ctx, actor, t.req, t.idem, t.meta, t.audit)


async def run_transfer(ctx: AppContext, actor: Actor, t: Transfer) -> Response[bytes]:
    return command_response(await transfer_result(ctx, actor, t))


TRANSFERS_PATH = "/api/v1/transfers"  # also answered by server/api/fast_lane.py
TRANSFER_OPERATION = "transferMoney"


class TransferController(Controller):
    path = TRANSFERS_PATH
    tags = ["transfers"]

    @post("/", operation_id=TRANSFER_OPERATION, status_code=201)
    async def transfer(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, data: TransferRequest
    ) -> Response[TransferResponse]:
        """Move ``amount`` (integer minor units) from one of your accounts to another account in
        the same currency. ``Idempotency-Key`` is required; a retry with it repeats the first
        answer. 422 ``insufficient_funds``, ``account_frozen``, ``account_closed``,
        ``same_account``, ``destination_account_not_found``, ``daily_limit_exceeded``."""
        transfer = await read_transfer(request, actor)
        return await run_transfer(ctx, actor, transfer)  # type: ignore[return-value]
