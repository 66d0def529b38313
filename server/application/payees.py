"""Payees and confirmation of payee (issue #17).

A payee is a row of the customer's own address book, not a ledger fact: it is kept
in ``payees`` (migration 0008), keyed by (customer, account) so adding it again is
idempotent (it renames), and every addition is in the audit trail with the match
answer. The holder's name is compared in the domain (server/domain/payee_match.py)
and never returned.
"""

from __future__ import annotations

from uuid import UUID

from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.context import AppContext
from server.domain import account_number
from server.domain.errors import AccountNotFoundError
from server.domain.payee_match import match_payee
from shared.api import AddPayeeRequest, PayeeList, PayeeResponse


class PayeeNotFoundError(AccountNotFoundError):
    code = "payee_not_found"


async def add_payee(
    ctx: AppContext, actor: Actor, req: AddPayeeRequest, audit: AuditRecord
) -> PayeeResponse:
    compact = account_number.parse(req.account_number)
    async with ctx.pool.acquire() as conn:
        holder = await conn.fetchrow(
            "SELECT o.account_id, u.full_name FROM account_owners o"
            " JOIN users u ON u.id = o.owner_id WHERE o.account_number = $1",
            compact,
        )
        if holder is None:
            await ctx.uow.record([audit.refused(AccountNotFoundError.code)])
            raise AccountNotFoundError("No account has this number.")
        answer = match_payee(req.holder_name, holder["full_name"])
        await conn.execute(
            "INSERT INTO payees (owner_id, account_id, nickname, name_match)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (owner_id, account_id)"
            " DO UPDATE SET nickname = EXCLUDED.nickname, name_match = EXCLUDED.name_match",
            actor.user_id,
            holder["account_id"],
            req.nickname,
            answer,
        )
    record = audit.about_account(holder["account_id"])
    await ctx.uow.record([record.accepted()])
    return PayeeResponse(
        account_number=account_number.formatted(compact), nickname=req.nickname, name_match=answer
    )


async def list_payees(ctx: AppContext, actor: Actor) -> PayeeList:
    rows = await ctx.pool.fetch(
        "SELECT o.account_number, p.nickname, p.name_match FROM payees p"
        " JOIN account_owners o ON o.account_id = p.account_id"
        " WHERE p.owner_id = $1 ORDER BY p.nickname, o.account_number",
        actor.user_id,
    )
    return PayeeList(
        items=[
            PayeeResponse(
                account_number=account_number.formatted(r["account_number"]),
                nickname=r["nickname"],
                name_match=r["name_match"],
            )
            for r in rows
        ]
    )


async def remove_payee(ctx: AppContext, actor: Actor, account_id: UUID, audit: AuditRecord) -> None:
    """Forget a saved beneficiary (the account itself is untouched); 404 if it is not
    one of this customer's payees."""
    record = audit.about_account(account_id)
    removed = await ctx.pool.fetchval(
        "DELETE FROM payees WHERE owner_id = $1 AND account_id = $2 RETURNING account_id",
        actor.user_id,
        account_id,
    )
    if removed is None:
        await ctx.uow.record([record.refused(PayeeNotFoundError.code)])
        raise PayeeNotFoundError("This account is not one of your payees.")
    await ctx.uow.record([record.accepted()])
