"""Accounts: open, list, read, rename, deposit, withdraw, freeze, unfreeze, close."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, patch, post

from server.api.account_ids import resolve_account
from server.api.approvals import PENDING_RESPONSE, pending_unfreeze
from server.api.body import decode_body, event_metadata, idempotency_key
from server.api.headers import IDEMPOTENT_REPLAYED
from server.api.queries import min_version_param
from server.api.security import audit_record
from server.application import funding_handlers, handlers
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult
from server.application.context import Actor, AppContext
from server.application.idempotency import IdempotencyKey
from server.queries import accounts as account_queries
from server.readmodel.cache import QueryCache
from shared.api import (
    AccountList,
    AccountNameResponse,
    AccountResponse,
    AccountStatusResponse,
    FreezeRequest,
    MoneyMovementRequest,
    MoneyMovementResponse,
    OpenAccountRequest,
    RenameAccountRequest,
)
from shared.events import EventMetadata


def command_response(result: CommandResult) -> Response[bytes]:
    headers = {IDEMPOTENT_REPLAYED: "true"} if result.replayed else None
    return Response(
        content=result.body,
        status_code=result.status_code,
        media_type="application/json",
        headers=headers,
    )


# An application entry point that moves money on one account (handlers.withdraw_money,
# funding_handlers.deposit, deposit_cash, top_up): all take the same arguments.
MovementHandler = Callable[
    [
        AppContext,
        Actor,
        UUID,
        MoneyMovementRequest,
        IdempotencyKey | None,
        EventMetadata,
        AuditRecord | None,
    ],
    Awaitable[CommandResult],
]


@dataclass(frozen=True, slots=True)
class Movement:
    """What a deposit, withdrawal, cash deposit or top-up request asked."""

    account: UUID
    req: MoneyMovementRequest
    idem: IdempotencyKey | None
    meta: EventMetadata
    audit: AuditRecord


async def read_movement(
    request: Request[Any, Any, Any],
    ctx: AppContext,
    actor: Actor,
    account_id: str,
    command: str,
    action: str,
) -> Movement:
    """The account, the body, the key (bound to ``command`` and its account), the
    metadata and the audit record (``action``)."""
    account = await resolve_account(ctx, account_id)
    req = await decode_body(request, MoneyMovementRequest)
    idem = idempotency_key(request, actor, f"{command}:{account}", req)
    meta = event_metadata(request, actor, idem)
    audit = msgspec.structs.replace(
        audit_record(request, action, actor, meta.trace_id).about_account(account),
        details={"amount": req.amount},
    )
    return Movement(account, req, idem, meta, audit)


async def movement_result(
    ctx: AppContext, actor: Actor, m: Movement, handler: MovementHandler
) -> CommandResult:
    return await handler(ctx, actor, m.account, m.req, m.idem, m.meta, m.audit)


async def run_movement(
    ctx: AppContext, actor: Actor, m: Movement, handler: MovementHandler
) -> Response[bytes]:
    return command_response(await movement_result(ctx, actor, m, handler))


@dataclass(frozen=True, slots=True)
class MovementRoute:
    """A money movement on one account, as its controller and the fast lane
    (server/api/fast_lane.py) both run it: read the request, then run the handler."""

    suffix: str  # the last segment of /api/v1/accounts/{account_id}/<suffix>
    operation_id: str
    command: str  # what the Idempotency-Key is bound to, with the account
    action: str  # the audit trail's action
    handler: MovementHandler

    @property
    def path(self) -> str:
        return "/{account_id:str}/" + self.suffix


DEPOSIT = MovementRoute(
    "deposits", "depositMoney", "deposit", "deposit_money", funding_handlers.deposit
)
WITHDRAWAL = MovementRoute(
    "withdrawals", "withdrawMoney", "withdraw", "withdraw_money", handlers.withdraw_money
)
CASH_DEPOSIT = MovementRoute(
    "cash-deposits", "depositCash", "deposit_cash", "deposit_cash", funding_handlers.deposit_cash
)
TOP_UP = MovementRoute(
    "top-ups", "topUpAccount", "top_up", "top_up_account", funding_handlers.top_up
)
MOVEMENT_ROUTES = (DEPOSIT, WITHDRAWAL, CASH_DEPOSIT, TOP_UP)


async def move(
    request: Request[Any, Any, Any],
    ctx: AppContext,
    actor: Actor,
    account_id: str,
    route: MovementRoute,
) -> Response[bytes]:
    movement = await read_movement(request, ctx, actor, account_id, route.command, route.action)
    return await run_movement(ctx, actor, movement, route.handler)


class AccountController(Controller):
    path = "/api/v1/accounts"
    tags = ["accounts"]

    @get("/", operation_id="listAccounts")
    async def list_accounts(
        self, ctx: AppContext, actor: Actor, query_cache: QueryCache
    ) -> AccountList:
        """Your own accounts, oldest first, closed ones included, each with its ``account_number``,
        ledger ``balance`` and ``available_balance`` (less pending holds)."""
        return await account_queries.list_accounts(ctx, actor, cache=query_cache)

    @post("/", operation_id="openAccount", status_code=201)
    async def open_account(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        data: OpenAccountRequest,
    ) -> Response[AccountResponse]:
        """Open an account of your own in ``currency``, named ``name``; the answer has its ``id``
        and ``account_number``. ``Idempotency-Key`` is optional: with one, a retry answers the same
        account. 422 ``too_many_accounts`` past the accounts one customer may hold that are not
        closed (20 by default), ``unsupported_currency``; auditors are read-only (403)."""
        req = await decode_body(request, OpenAccountRequest)
        idem = idempotency_key(request, actor, "open_account", req, required=False)
        meta = event_metadata(request, actor, idem)
        audit = audit_record(request, "open_account", actor, meta.trace_id)
        result = await handlers.open_account(ctx, actor, req, idem, meta, audit)
        return command_response(result)  # type: ignore[return-value]

    @get("/{account_id:str}", operation_id="getAccount")
    async def get_account(
        self,
        ctx: AppContext,
        actor: Actor,
        query_cache: QueryCache,
        account_id: str,
        min_version: int | None = None,
    ) -> AccountResponse:
        """One account (``account_id``: its id or account number), for its owner and staff; another
        customer's is 404 ``account_not_found``. Never older than its latest write; ``min_version``
        (a ``version`` a command answered) reads that version or newer, quicker."""
        return await account_queries.get_account(
            ctx,
            actor,
            await resolve_account(ctx, account_id),
            cache=query_cache,
            min_version=min_version_param(min_version),
        )

    @patch("/{account_id:str}", operation_id="renameAccount", status_code=200)
    async def rename_account(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        data: RenameAccountRequest,
    ) -> Response[AccountNameResponse]:
        """Give one's account another name (the same name again changes nothing). A
        closed account keeps its name: 422 ``account_closed``."""
        account = await resolve_account(ctx, account_id)
        req = await decode_body(request, RenameAccountRequest)
        idem = idempotency_key(request, actor, f"rename:{account}", req, required=False)
        meta = event_metadata(request, actor, idem)
        audit = msgspec.structs.replace(
            audit_record(request, "rename_account", actor, meta.trace_id).about_account(account),
            details={"name": req.name},
        )
        result = await handlers.rename_account(ctx, actor, account, req.name, idem, meta, audit)
        return command_response(result)  # type: ignore[return-value]

    @post(
        DEPOSIT.path,
        operation_id=DEPOSIT.operation_id,
        status_code=201,
        responses=PENDING_RESPONSE,
    )
    async def deposit(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        data: MoneyMovementRequest,
    ) -> Response[MoneyMovementResponse]:
        """Put ``amount`` (integer minor units) on the account: a customer's own deposit is a
        development top-up (403 ``top_ups_disabled`` where the bank has none); staff's is cash
        paid in at the desk, kept for a second member of staff above the four-eyes threshold
        (202 with the ``approval_id``). ``Idempotency-Key`` is required."""
        return await move(request, ctx, actor, account_id, DEPOSIT)  # type: ignore[return-value]

    @post(WITHDRAWAL.path, operation_id=WITHDRAWAL.operation_id, status_code=201)
    async def withdraw(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        data: MoneyMovementRequest,
    ) -> Response[MoneyMovementResponse]:
        """Take ``amount`` (integer minor units) out of the account: its owner, or a teller paying
        out cash. ``Idempotency-Key`` is required; a retry with it repeats the first answer. 422
        ``insufficient_funds`` (pending holds are not spendable), ``account_frozen``,
        ``account_closed``, ``transaction_limit_exceeded``, ``daily_limit_exceeded``."""
        return await move(request, ctx, actor, account_id, WITHDRAWAL)  # type: ignore[return-value]

    async def _status_change(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        action: handlers.StatusChange,
    ) -> Response[bytes]:
        account = await resolve_account(ctx, account_id)
        body = await request.body()
        req = await decode_body(request, FreezeRequest) if body else FreezeRequest()
        idem = idempotency_key(request, actor, f"{action}:{account}", req, required=False)
        if action == "unfreeze" and (
            held := await pending_unfreeze(request, ctx, actor, account, idem)
        ):
            return held  # maker-checker: 202, runs when another staff member approves
        meta = event_metadata(request, actor, idem)
        audit = audit_record(request, f"{action}_account", actor, meta.trace_id).about_account(
            account
        )
        result = await handlers.change_account_status(
            ctx, actor, account, action, req.reason, idem, meta, audit
        )
        return command_response(result)

    @post("/{account_id:str}/freeze", operation_id="freezeAccount", status_code=200)
    async def freeze(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, account_id: str
    ) -> Response[AccountStatusResponse]:
        """Admin only: freeze the account (an optional body gives a ``reason``). No money can leave
        a frozen account; payments into it still arrive. ``Idempotency-Key`` is optional. 422
        ``account_already_frozen``, ``account_closed``."""
        return await self._status_change(request, ctx, actor, account_id, "freeze")  # type: ignore[return-value]

    @post(
        "/{account_id:str}/unfreeze",
        operation_id="unfreezeAccount",
        status_code=200,
        responses=PENDING_RESPONSE,
    )
    async def unfreeze(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, account_id: str
    ) -> Response[AccountStatusResponse]:
        """Admin only: lift a freeze. While the bank requires four eyes for it (the default) the
        answer is 202 with the ``approval_id`` (a retry under the same ``Idempotency-Key`` answers
        the same request) and the freeze ends when another admin approves (422
        ``account_not_frozen``, ``account_closed``)."""
        return await self._status_change(request, ctx, actor, account_id, "unfreeze")  # type: ignore[return-value]

    @post("/{account_id:str}/close", operation_id="closeAccount", status_code=200)
    async def close(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, account_id: str
    ) -> Response[AccountStatusResponse]:
        """Close the account for good (its owner, or an admin): 422 ``account_not_empty`` unless
        the balance is zero, ``pending_holds`` while holds are pending. Standing orders paying from
        it, and the owner's own into it, are cancelled. ``Idempotency-Key`` is optional."""
        return await self._status_change(request, ctx, actor, account_id, "close")  # type: ignore[return-value]
