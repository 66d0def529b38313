"""Payees and payments by account number over GraphQL (issue #17 item 3), through
the same application functions, scopes, audit records and codes as REST's
PayeeController (server/api/payees.py) and TransferByNumberController
(server/api/payments.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec
import strawberry
from strawberry.types import Info

from server.api.account_ids import resolve_account, resolve_payment
from server.api.body import event_metadata
from server.api.security import audit_record
from server.api.transfers import transfer_audit
from server.application import handlers, payees
from server.application.access import check_may_open_account
from server.graphql import types as t
from server.graphql.context import BankContext, actor_of
from server.graphql.mutations import KEY_HELP, _request, _transfer, caller, command_key
from shared import api

BankInfo = Info[BankContext, None]
NUMBER_HELP = "An account number as people read it out (spaces allowed)."


@strawberry.type
class PayeeQuery:
    @strawberry.field(description="Your saved beneficiaries, by nickname.")
    async def payees(self, info: BankInfo) -> list[t.Payee]:
        actor = await actor_of(info.context)
        found = await payees.list_payees(info.context.services.ctx, actor)
        return [t.Payee.of(p) for p in found.items]


@strawberry.type
class PayeeMutation:
    @strawberry.mutation(
        description="Save a beneficiary (again: renames it); nameMatch says whether the"
        " holder name typed matches, without revealing the real name."
    )
    async def add_payee(
        self,
        info: BankInfo,
        account_number: Annotated[str, strawberry.argument(description=NUMBER_HELP)],
        holder_name: str,
        nickname: str,
    ) -> t.Payee:
        actor, request = await caller(info)
        check_may_open_account(actor)  # auditors are read-only
        req = _request(
            api.AddPayeeRequest,
            account_number=account_number,
            holder_name=holder_name,
            nickname=nickname,
        )
        meta = event_metadata(request, actor, None)
        audit = msgspec.structs.replace(
            audit_record(request, "add_payee", actor, meta.trace_id),
            details={"nickname": req.nickname},
        )
        return t.Payee.of(await payees.add_payee(info.context.services.ctx, actor, req, audit))

    @strawberry.mutation(
        description="Forget a saved beneficiary (payee_not_found if it is not one of"
        " yours); true when it was removed."
    )
    async def remove_payee(
        self,
        info: BankInfo,
        account_number: Annotated[str, strawberry.argument(description=NUMBER_HELP)],
    ) -> bool:
        actor, request = await caller(info)
        check_may_open_account(actor)  # auditors are read-only
        ctx = info.context.services.ctx
        account = await resolve_account(ctx, account_number, "account_number")
        await payees.remove_payee(ctx, actor, account, audit_record(request, "remove_payee", actor))
        return True

    @strawberry.mutation(
        description="Transfer to an account number (REST: POST"
        " /api/v1/transfers/by-account-number); the same command and idempotency scope as"
        " transfer, so a retry through either with the same key is answered once."
    )
    async def pay_to_account_number(
        self,
        info: BankInfo,
        from_account: Annotated[
            str, strawberry.argument(description="Your account: its id or account number.")
        ],
        to_account_number: Annotated[str, strawberry.argument(description=NUMBER_HELP)],
        amount: t.MinorUnits,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY_HELP)],
        description: str = "",
        currency: str | None = None,
    ) -> t.Transfer:
        actor, request = await caller(info, moves_money=True)
        ctx = info.context.services.ctx
        body = _request(
            api.TransferByNumberRequest,
            from_account=from_account,
            to_account_number=to_account_number,
            amount=amount,
            description=description,
            currency=currency,
        )
        source, target = await resolve_payment(ctx, body.from_account, body.to_account_number)
        req = api.TransferRequest(
            from_account_id=source,
            to_account_id=target,
            amount=body.amount,
            description=body.description,
            currency=body.currency,
        )
        idem = command_key(actor, "transfer", req, idempotency_key)
        meta = event_metadata(request, actor, idem)
        audit = transfer_audit(request, actor, meta, req)
        result = await handlers.transfer_money(ctx, actor, req, idem, meta, audit)
        return _transfer(result)
