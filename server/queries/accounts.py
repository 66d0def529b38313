"""GetAccount / ListAccounts. Until the read models exist these fold the
account's events (through the aggregate cache); the answers keep their shape."""

from __future__ import annotations

from uuid import UUID

from server.application.access import check_account_access
from server.application.context import Actor, AppContext
from server.application.views import account_response
from server.domain.errors import AccountNotFoundError
from shared.api import AccountList, AccountResponse


async def get_account(ctx: AppContext, actor: Actor, account_id: UUID) -> AccountResponse:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT owner_id, opened_at FROM account_owners WHERE account_id = $1", account_id
        )
        check_account_access(actor, row["owner_id"] if row else None, "read")
        account = await ctx.accounts.get(conn, account_id)
    if account is None:
        raise AccountNotFoundError("No such account.")
    ctx.accounts.remember(account)
    return account_response(account, row["opened_at"])


async def list_accounts(ctx: AppContext, actor: Actor) -> AccountList:
    items: list[AccountResponse] = []
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT account_id, opened_at FROM account_owners WHERE owner_id = $1"
            " ORDER BY opened_at, account_id",
            actor.user_id,
        )
        for row in rows:
            account = await ctx.accounts.get(conn, row["account_id"])
            if account is not None:
                ctx.accounts.remember(account)
                items.append(account_response(account, row["opened_at"]))
    return AccountList(items=items)
