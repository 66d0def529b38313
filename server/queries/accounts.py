"""GetAccount / ListAccounts / GetBalance from account_view, through the Redis
query cache, with the event store as the fallback. When Redis cannot be
reached the cache answers "miss" and every read comes from PostgreSQL
(server/readmodel/cache.py).

Read-your-writes: a command response carries the account's new stream version.
A client that passes it back as ``min_version`` never gets an older state: when
the cache and account_view are both behind (the projection has not caught up),
the account is folded from the event store instead. Without ``min_version`` the
head version of the stream is looked up (an index look-up, read together with the
other reads asking at that moment: server/adapters/postgres/stream_heads.py) and used as the
minimum, so a plain read is never behind a write either; passing
``min_version`` skips that lookup. Accounts the projection has not seen at all
yet (just opened) are folded from the store too.

The state of an account is the fold of its stream up to its version, so a state at
the stream's head is the account now. Each API process keeps the newest state it
read per account (``QueryCache.keep``); a plain read whose head equals that
state's version answers from it without asking the query cache
(docs/adr/0307-a-plain-read-at-the-head-answers-from-memory.md).
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from server.application.access import check_account_access
from server.application.context import Actor, AppContext
from server.application.views import account_response as folded_response
from server.domain.account_number import formatted
from server.domain.errors import AccountNotFoundError
from server.observability.metrics import KEPT_READS
from server.readmodel.cache import QueryCache
from server.readmodel.rows import account_response
from server.readmodel.tables import AccountView
from shared.api import AccountList, AccountResponse, BalanceResponse


async def _from_view(
    ctx: AppContext, account_id: UUID, cache: QueryCache | None
) -> AccountResponse | None:
    cached = await cache.get_account(account_id) if cache else None
    if cached is not None and cached.available_balance is not None:  # else cached before holds
        return cached
    row = await AccountView.select().where(AccountView.account_id == account_id).first()
    if row is None:
        return None
    account = await _numbered(ctx, account_response(row))
    if cache:
        await cache.put_account(account)
    return account


async def _from_store(ctx: AppContext, account_id: UUID) -> AccountResponse | None:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT opened_at, account_number FROM account_owners WHERE account_id = $1",
            account_id,
        )
        if row is None:
            return None
        account = await ctx.accounts.get(conn, account_id)
    if account is None:
        return None
    ctx.accounts.remember(account)
    folded = folded_response(account, row["opened_at"])
    return msgspec.structs.replace(folded, account_number=formatted(row["account_number"]))


async def _store_head(ctx: AppContext, account_id: UUID) -> int:
    return await ctx.heads.head(account_id)  # read together with the others asked now


async def _numbered(ctx: AppContext, account: AccountResponse) -> AccountResponse:
    """The response with its account number (held in the account registry)."""
    if account.account_number is not None:
        return account
    number = await ctx.pool.fetchval(
        "SELECT account_number FROM account_owners WHERE account_id = $1", account.id
    )
    return msgspec.structs.replace(account, account_number=formatted(number) if number else None)


async def get_account(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    *,
    cache: QueryCache | None = None,
    min_version: int | None = None,
) -> AccountResponse:
    # The projection refreshes the cache without the number (it folds events only).
    found = await _get_account(ctx, actor, account_id, cache=cache, min_version=min_version)
    return await _numbered(ctx, found)


async def _get_account(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    *,
    cache: QueryCache | None = None,
    min_version: int | None = None,
) -> AccountResponse:
    head = None
    if min_version is None and cache and (kept := cache.kept(account_id)) is not None:
        # A plain read: the head is read anyway; when the state this process kept is at
        # the head, it is the account now, and the query cache need not be asked.
        head = await _store_head(ctx, account_id)
        if kept.version == head:
            check_account_access(actor, kept.owner_id, "read")
            KEPT_READS.inc()
            return kept
    account = await _from_view(ctx, account_id, cache)
    if account is not None and cache:
        cache.keep(account)
    if account is not None:
        check_account_access(actor, account.owner_id, "read")
        if min_version is None:
            min_version = head if head is not None else await _store_head(ctx, account_id)
        if account.version >= min_version:
            return account
    stored = await _from_store(ctx, account_id)
    if stored is None:
        raise AccountNotFoundError("No such account.")
    check_account_access(actor, stored.owner_id, "read")
    if account is not None and account.version > stored.version:
        return account  # the store cannot be behind the view; keep the newer one anyway
    return stored


async def get_balance(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    *,
    cache: QueryCache | None = None,
    min_version: int | None = None,
) -> BalanceResponse:
    account = await _get_account(ctx, actor, account_id, cache=cache, min_version=min_version)
    return BalanceResponse(
        account_id=account.id,
        balance=account.balance,
        version=account.version,
        available_balance=account.available_balance,
    )


async def list_accounts(
    ctx: AppContext, actor: Actor, *, cache: QueryCache | None = None
) -> AccountList:
    """The actor's accounts, oldest first. Cached per owner; an account the
    projection has not caught up with yet is folded from the event store."""
    async with ctx.pool.acquire() as conn:
        owned = await conn.fetch(
            "SELECT o.account_id, (SELECT e.version FROM events e WHERE e.stream_id = o.account_id"
            " ORDER BY e.version DESC LIMIT 1) AS head, o.account_number"
            " FROM account_owners o WHERE o.owner_id = $1",
            actor.user_id,
        )
    heads = {r["account_id"]: r["head"] or 0 for r in owned}
    numbers = {r["account_id"]: formatted(r["account_number"]) for r in owned}
    # gen None: no cache, or Redis cannot be reached (then PostgreSQL answers).
    gen = await cache.list_generation(actor.user_id) if cache else None
    cached = await cache.get_list(actor.user_id, gen) if cache and gen is not None else None
    if cached is not None and {a.id: a.version for a in cached.items} == heads:
        if all(a.available_balance is not None for a in cached.items):  # else cached before holds
            return cached
    rows = await (
        AccountView.select()
        .where(AccountView.owner_id == actor.user_id)
        .order_by(AccountView.opened_at)
        .order_by(AccountView.account_id)
    )
    items = [account_response(r) for r in rows if r["version"] >= heads.get(r["account_id"], 0)]
    missing = set(heads) - {a.id for a in items}
    for account_id in missing:
        stored = await _from_store(ctx, account_id)
        if stored is not None:
            items.append(stored)
    if missing:
        items.sort(key=lambda a: (a.opened_at is None, a.opened_at, str(a.id)))
    items = [msgspec.structs.replace(a, account_number=numbers.get(a.id)) for a in items]
    result = AccountList(items=items)
    if cache and gen is not None and not missing:
        await cache.put_list(actor.user_id, gen, result)
    return result
