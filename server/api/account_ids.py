"""An account named in a path: its internal UUID, or the account number people read
out (issue #17), with or without spaces. A malformed number is 400
``invalid_account_number``; a number nobody holds is 404 like an unknown id."""

from __future__ import annotations

import uuid

from server.api.body import parse_uuid
from server.application.context import AppContext
from server.domain import account_number
from server.domain.errors import AccountNotFoundError


async def resolve_account(ctx: AppContext, value: str, name: str = "account_id") -> uuid.UUID:
    if not account_number.looks_like_account_number(value):
        return parse_uuid(value, name)
    compact = account_number.parse(value)
    found = await ctx.pool.fetchval(
        "SELECT account_id FROM account_owners WHERE account_number = $1", compact
    )
    if found is None:
        raise AccountNotFoundError("No such account.")
    return found  # type: ignore[no-any-return]  # asyncpg's fetchval is untyped


async def resolve_payment(
    ctx: AppContext, from_account: str, to_account_number: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """A payment's two accounts as people name them (the source by id or number, the
    destination by the number typed): a mistyped number is refused first (its check
    digits: 422), then each is resolved (a number nobody holds: 404)."""
    account_number.parse(to_account_number)
    return (
        await resolve_account(ctx, from_account, "from_account"),
        await resolve_account(ctx, to_account_number, "to_account_number"),
    )
