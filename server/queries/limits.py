"""GetAccountLimits: an account's outgoing limits and what may still leave it today,
so a customer can see before paying what a payment would be refused for.

Limits are not in the read models (no projection needs them): the account is folded
from the event store through the write side's repository, which keeps each account's
state and reads only the events after it. A customer reads their own accounts (another's
is a 404); staff with read access read any.
"""

from __future__ import annotations

from uuid import UUID

from server.application.access import check_account_access
from server.application.commands import business_day
from server.application.context import Actor, AppContext
from server.application.limits import limits_response
from shared.api import AccountLimitsResponse


async def get_limits(ctx: AppContext, actor: Actor, account_id: UUID) -> AccountLimitsResponse:
    async with ctx.pool.acquire() as conn:
        account = await ctx.accounts.get(conn, account_id)
    check_account_access(actor, account.owner_id if account else None, "read")
    assert account is not None  # check_account_access refuses an unknown account
    ctx.accounts.remember(account)
    return limits_response(account, business_day(), ctx.settings.max_transaction_amount)
