"""Mutations: the REST commands, with the same request Structs, idempotency keys,
metadata, audit records, rate limit and application entry points."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
import strawberry
from litestar import Request
from strawberry.types import Info

from server.api import body
from server.api.body import BadRequestError, event_metadata
from server.api.errors import INVALID_BODY, plain_words
from server.api.rate_limits import take_money_token
from server.api.security import audit_record
from server.api.transfers import transfer_audit
from server.application import funding_handlers, handlers
from server.application.command_runner import CommandResult
from server.application.context import Actor
from server.application.idempotency import IdempotencyKey, request_hash
from server.graphql import types as t
from server.graphql.context import BankContext, actor_of
from server.graphql.problems import problem
from shared import api
from shared.approvals import ApprovalPending

S = TypeVar("S")
BankInfo = Info[BankContext, None]
KEY_HELP = (
    "Generate once per operation (a UUID) and send the same key on every retry: the first"
    " answer is repeated and nothing happens twice (the REST Idempotency-Key)."
)


async def caller(
    info: BankInfo, *, moves_money: bool = False
) -> tuple[Actor, Request[Any, Any, Any]]:
    """Who sends a mutation, and its HTTP request (for the event metadata and the audit
    record); a money movement also takes one of the caller's tokens, as over REST."""
    actor = await actor_of(info.context)
    request = info.context.request
    assert request is not None
    if moves_money:
        await take_money_token(info.context.app, actor)
    return actor, request


def command_key(
    actor: Actor, command: str, req: msgspec.Struct, key: str | None, *, required: bool = True
) -> IdempotencyKey | None:
    """The REST Idempotency-Key, from an argument: same rule, scope and request hash, so a
    retry over either protocol answers the first outcome."""
    if key is None:
        if required:
            raise BadRequestError(
                "Money movements need an idempotencyKey (a UUID you generate once per"
                " operation and reuse on retries).",
                "idempotency_key_required",
            )
        return None
    if not body._KEY.match(key):  # the one rule of a key
        raise BadRequestError(
            "The idempotencyKey must be 1 to 255 visible ASCII characters.",
            "invalid_idempotency_key",
        )
    return IdempotencyKey(
        scope=str(actor.user_id), key=key, request_hash=request_hash(command, req)
    )


def _result(result: CommandResult, type_: type[S]) -> S:
    """The REST answer of a command, as its Struct; a refusal is raised with its code,
    and a command kept for a second member of staff (REST's 202) as ``approval_pending``
    with the request's id (it is decided over REST: /api/v1/approvals)."""
    if result.status_code == 202:
        kept = msgspec.json.decode(result.body, type=ApprovalPending)
        detail = f"{kept.message} Approval request {kept.approval_id}."
        raise problem(detail, "approval_pending", 202, approval_id=str(kept.approval_id))
    if result.status_code >= 400:
        p = msgspec.json.decode(result.body, type=api.Problem)
        raise problem(p.detail or p.title, p.code or "error", p.status)
    return msgspec.json.decode(result.body, type=type_)


def _request(type_: type[S], **fields: Any) -> S:
    """The REST request Struct, decoded with the same rules (strict, no unknown fields)."""
    try:
        return msgspec.convert(fields, type_, strict=True)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"Invalid input: {plain_words(str(exc))}", INVALID_BODY) from None


def _movement(result: CommandResult) -> t.MoneyMovement:
    r = _result(result, api.MoneyMovementResponse)
    return t.MoneyMovement(
        transaction_id=r.transaction_id,
        balance=t.Money.of(r.balance),
        version=r.version,
        replayed=result.replayed,
        available_balance=t.Money.of_optional(r.available_balance),
    )


def _transfer(result: CommandResult) -> t.Transfer:
    r = _result(result, api.TransferResponse)
    return t.Transfer(
        transfer_id=r.transfer_id,
        balance=t.Money.of(r.balance),
        version=r.version,
        replayed=result.replayed,
        available_balance=t.Money.of_optional(r.available_balance),
    )


async def _move(
    info: BankInfo, kind: str, account_id: UUID, amount: int, description: str, key: str
) -> t.MoneyMovement:
    actor, request = await caller(info, moves_money=True)
    req = _request(api.MoneyMovementRequest, amount=amount, description=description)
    idem = command_key(actor, f"{kind}:{account_id}", req, key)
    meta = event_metadata(request, actor, idem)
    audit = msgspec.structs.replace(
        audit_record(request, f"{kind}_money", actor, meta.trace_id).about_account(account_id),
        details={"amount": req.amount},
    )
    # The same deposit rule as REST (funding_handlers.deposit): a customer's deposit is a
    # development top-up, refused in production; staff's is cash at the desk.
    handler = funding_handlers.deposit if kind == "deposit" else handlers.withdraw_money
    ctx = info.context.services.ctx
    return _movement(await handler(ctx, actor, account_id, req, idem, meta, audit))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Open an account in a currency (ISO 4217).")
    async def open_account(
        self,
        info: BankInfo,
        currency: str,
        name: str,
        idempotency_key: Annotated[str | None, strawberry.argument(description=KEY_HELP)] = None,
    ) -> t.Account:
        actor, request = await caller(info)
        req = _request(api.OpenAccountRequest, currency=currency, name=name)
        idem = command_key(actor, "open_account", req, idempotency_key, required=False)
        meta = event_metadata(request, actor, idem)
        audit = audit_record(request, "open_account", actor, meta.trace_id)
        ctx = info.context.services.ctx
        result = await handlers.open_account(ctx, actor, req, idem, meta, audit)
        return t.Account.of(_result(result, api.AccountResponse))

    @strawberry.mutation(description="Give one of your accounts another name.")
    async def rename_account(
        self,
        info: BankInfo,
        account_id: UUID,
        name: str,
        idempotency_key: Annotated[str | None, strawberry.argument(description=KEY_HELP)] = None,
    ) -> t.AccountName:
        actor, request = await caller(info)
        req = _request(api.RenameAccountRequest, name=name)
        idem = command_key(actor, f"rename:{account_id}", req, idempotency_key, required=False)
        meta = event_metadata(request, actor, idem)
        audit = msgspec.structs.replace(
            audit_record(request, "rename_account", actor, meta.trace_id).about_account(account_id),
            details={"name": req.name},
        )
        ctx = info.context.services.ctx
        result = await handlers.rename_account(ctx, actor, account_id, req.name, idem, meta, audit)
        return t.AccountName.of(_result(result, api.AccountNameResponse), result.replayed)

    @strawberry.mutation
    async def deposit(
        self,
        info: BankInfo,
        account_id: UUID,
        amount: t.MinorUnits,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY_HELP)],
        description: str = "",
    ) -> t.MoneyMovement:
        return await _move(info, "deposit", account_id, amount, description, idempotency_key)

    @strawberry.mutation
    async def withdraw(
        self,
        info: BankInfo,
        account_id: UUID,
        amount: t.MinorUnits,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY_HELP)],
        description: str = "",
    ) -> t.MoneyMovement:
        return await _move(info, "withdraw", account_id, amount, description, idempotency_key)

    @strawberry.mutation
    async def transfer(
        self,
        info: BankInfo,
        from_account_id: UUID,
        to_account_id: UUID,
        amount: t.MinorUnits,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY_HELP)],
        description: str = "",
    ) -> t.Transfer:
        actor, request = await caller(info, moves_money=True)
        req = _request(
            api.TransferRequest,
            from_account_id=str(from_account_id),
            to_account_id=str(to_account_id),
            amount=amount,
            description=description,
        )
        idem = command_key(actor, "transfer", req, idempotency_key)
        meta = event_metadata(request, actor, idem)
        audit = transfer_audit(request, actor, meta, req)
        ctx = info.context.services.ctx
        result = await handlers.transfer_money(ctx, actor, req, idem, meta, audit)
        return _transfer(result)
