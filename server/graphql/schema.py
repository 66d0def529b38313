"""The GraphQL schema: the same queries and commands as REST, through the same functions.

Queries call server/queries (and, for me, history and analytics, the REST handlers
themselves, so their parameter rules and SQL exist once); mutations build the same
request Structs, idempotency keys, metadata and audit records as the REST
controllers and call the same server/application entry points; the subscription
listens on the same Redis channels as /api/v1/ws.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated
from uuid import UUID

import asyncpg
import msgspec
import strawberry
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from runtime.settings import Settings
from server.api.live import SESSION_RECHECK_SECONDS, LiveChannels, SentVersions
from server.api.profile import ProfileController
from server.api.queries import RECENT_DEFAULT, QueryController, RecentActivityController
from server.api.security import SESSION_ENDED_DETAIL, SESSION_REVOKED
from server.graphql import types as t
from server.graphql.context import BankContext, actor_of
from server.graphql.holds import HoldMutation, HoldQuery
from server.graphql.limits import ExtensionFactory, abuse_limits
from server.graphql.mutations import Mutation
from server.graphql.payees import PayeeMutation, PayeeQuery
from server.graphql.problems import Problems, as_problem, problem
from server.graphql.standing_orders import StandingOrderMutation, StandingOrderQuery
from server.queries import accounts as account_queries
from server.queries import limits as limits_queries
from server.queries.history import encode_cursor
from server.queries.live import missed_messages
from server.readmodel.cache import live_channel
from shared import api, messages
from shared.security import ProfileResponse

BankInfo = Info[BankContext, None]
_live = msgspec.json.Decoder(messages.ServerMessage)


@strawberry.type
class Query(HoldQuery, PayeeQuery, StandingOrderQuery):
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: BankInfo) -> t.User:
        actor = await actor_of(info.context)
        user: ProfileResponse = await ProfileController.me.fn(
            None, ctx=info.context.services.ctx, actor=actor
        )
        return t.User(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            can_deposit=user.can_deposit,
            two_step=user.two_step,
            recovery_codes_left=user.recovery_codes_left,
            email_change_pending_to=user.email_change_pending_to,
        )

    @strawberry.field(description="The signed-in customer's accounts, oldest first.")
    async def accounts(self, info: BankInfo) -> list[t.Account]:
        actor = await actor_of(info.context)
        s = info.context.services
        found = await account_queries.list_accounts(s.ctx, actor, cache=s.query_cache)
        return [t.Account.of(a) for a in found.items]

    @strawberry.field(description="One account (another customer's is not found).")
    async def account(self, info: BankInfo, id: UUID) -> t.Account:
        actor = await actor_of(info.context)
        s = info.context.services
        return t.Account.of(
            await account_queries.get_account(s.ctx, actor, id, cache=s.query_cache)
        )

    @strawberry.field
    async def balance(
        self, info: BankInfo, account_id: UUID, min_version: int | None = None
    ) -> t.Balance:
        actor = await actor_of(info.context)
        s = info.context.services
        b = await account_queries.get_balance(
            s.ctx, actor, account_id, cache=s.query_cache, min_version=min_version
        )
        available = t.Money.of_optional(b.available_balance)
        return t.Balance(
            account_id=b.account_id,
            balance=t.Money.of(b.balance),
            version=b.version,
            available_balance=available,
        )

    @strawberry.field(description="Outgoing limits, and what may still leave today (UTC).")
    async def limits(self, info: BankInfo, account_id: UUID) -> t.AccountLimits:
        actor = await actor_of(info.context)
        return t.AccountLimits.of(
            await limits_queries.get_limits(info.context.services.ctx, actor, account_id)
        )

    @strawberry.field(
        description="The newest postings over all of the caller's accounts, newest first."
    )
    async def recent_transactions(
        self, info: BankInfo, first: int = RECENT_DEFAULT
    ) -> list[t.Transaction]:
        actor = await actor_of(info.context)
        found: api.RecentTransactions = await RecentActivityController.recent.fn(
            None, ctx=info.context.services.ctx, actor=actor, limit=first
        )
        return [t.Transaction.of(x) for x in found.items]

    @strawberry.field(description="History, newest first, with the filters of REST.")
    async def transactions(
        self,
        info: BankInfo,
        account_id: UUID,
        first: int = 50,
        after: str | None = None,
        from_: Annotated[str | None, strawberry.argument(name="from")] = None,
        to: str | None = None,
        kind: t.TransactionKind | None = None,
        search: Annotated[
            str | None,
            strawberry.argument(description="Only postings whose description contains it."),
        ] = None,
    ) -> t.TransactionConnection:
        actor = await actor_of(info.context)
        page: api.TransactionPage = await QueryController.transactions.fn(
            None,
            ctx=info.context.services.ctx,
            actor=actor,
            query_cache=info.context.services.query_cache,
            account_id=str(account_id),
            limit=first,
            cursor=after,
            since=from_,
            until=to,
            kind=kind.value if kind else None,
            q=search,
        )
        edges = [
            t.TransactionEdge(cursor=encode_cursor(account_id, x.version), node=t.Transaction.of(x))
            for x in page.items
        ]
        return t.TransactionConnection(
            edges=edges,
            page_info=t.PageInfo(
                has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor
            ),
        )

    @strawberry.field(
        description="One transaction of the account by its id (a transfer's transferId)."
    )
    async def transaction(
        self, info: BankInfo, account_id: UUID, transaction_id: UUID
    ) -> t.Transaction:
        actor = await actor_of(info.context)
        found: api.TransactionResponse = await QueryController.transaction.fn(
            None,
            ctx=info.context.services.ctx,
            actor=actor,
            query_cache=info.context.services.query_cache,
            account_id=str(account_id),
            transaction_id=str(transaction_id),
        )
        return t.Transaction.of(found)

    @strawberry.field(description="Money in and out per day (UTC), from..to inclusive.")
    async def analytics(
        self,
        info: BankInfo,
        account_id: UUID,
        from_: Annotated[str | None, strawberry.argument(name="from")] = None,
        to: str | None = None,
    ) -> t.Analytics:
        actor = await actor_of(info.context)
        result: api.AnalyticsResponse = await QueryController.analytics.fn(
            None,
            ctx=info.context.services.ctx,
            actor=actor,
            query_cache=info.context.services.query_cache,
            account_id=str(account_id),
            since=from_,
            until=to,
        )
        return t.Analytics.of(result)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Balance changes of these accounts, live (the feed of /api/v1/ws)."
    )
    async def balance_changed(
        self, info: BankInfo, account_ids: list[UUID]
    ) -> AsyncGenerator[t.BalanceChanged, None]:
        try:
            async for change in _balance_changes(info, account_ids):
                yield change
        except Exception as exc:  # noqa: BLE001 - subscriptions bypass the resolver extension
            raise as_problem(exc) from exc


async def _balance_changes(
    info: BankInfo, account_ids: list[UUID]
) -> AsyncGenerator[t.BalanceChanged, None]:
    """The watched accounts' changes, versions only going up (none twice). What Redis
    pub/sub lost while the API was subscribing again, or between reading the
    accounts and subscribing, is read from the read models (server/queries/live.py)."""
    actor = await actor_of(info.context)
    s = info.context.services
    if not 1 <= len(account_ids) <= MAX_WATCHED:
        raise problem(f"Watch 1 to {MAX_WATCHED} accounts.", "invalid_request", 400)
    owners = set()
    sent = SentVersions()  # the version each watched account was last seen at
    for account_id in account_ids:  # another customer's account is not found
        found = await account_queries.get_account(
            s.ctx, actor, account_id, cache=s.query_cache, min_version=0
        )
        owners.add(found.owner_id)
        sent[account_id] = found.version
    channels = info.context.app.plugins.get(LiveChannels)
    async with channels.start_subscription([live_channel(o) for o in owners]) as subscriber:
        events = subscriber.iter_events().__aiter__()
        upcoming = asyncio.ensure_future(anext(events))
        resumed = asyncio.ensure_future(channels.resumed())
        try:
            for change in await _missed(s.ctx.pool, owners, sent):
                yield change
            while True:
                # Between messages, check that the session was not signed out meanwhile.
                done, _ = await asyncio.wait(
                    {upcoming, resumed},
                    timeout=SESSION_RECHECK_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    await _still_signed_in(info)
                    continue
                if resumed in done:
                    resumed = asyncio.ensure_future(channels.resumed())
                    for change in await _missed(s.ctx.pool, owners, sent):
                        yield change
                if upcoming in done:
                    raw = upcoming.result()
                    upcoming = asyncio.ensure_future(anext(events))
                    live = _decoded_change(raw, sent)
                    if live is not None:
                        yield live
        finally:
            upcoming.cancel()
            resumed.cancel()


async def _missed(
    db: asyncpg.Pool, owners: set[UUID], sent: SentVersions
) -> list[t.BalanceChanged]:
    """The changes of the watched accounts after the versions in ``sent``."""
    changes = []
    for owner in sorted(owners, key=str):
        for msg in await missed_messages(db, owner, sent, only=sent):
            change = _new_change(msg, sent)
            if change is not None:
                changes.append(change)
    return changes


def _decoded_change(raw: bytes, sent: SentVersions) -> t.BalanceChanged | None:
    try:
        msg = _live.decode(raw)
    except msgspec.DecodeError:
        return None
    return _new_change(msg, sent)


def _new_change(msg: messages.ServerMessage, sent: SentVersions) -> t.BalanceChanged | None:
    """``msg`` as a change to send, if it is one of a watched account not sent yet."""
    if not isinstance(msg, messages.BalanceChanged) or msg.account_id not in sent:
        return None
    if not sent.take(msg.account_id, msg.version):
        return None
    return t.BalanceChanged.of(msg)


MAX_WATCHED = 50


async def _still_signed_in(info: BankInfo) -> None:
    actor = await actor_of(info.context)
    sessions = info.context.services.sessions
    if actor.session_id is None or not await sessions.is_active(actor.session_id):
        raise problem(SESSION_ENDED_DETAIL, SESSION_REVOKED, 401)


@strawberry.type(name="Mutation")
class BankMutation(Mutation, HoldMutation, PayeeMutation, StandingOrderMutation):
    """Every command: money movements (mutations.py), holds (holds.py), payees and
    payments by account number (payees.py), standing orders (standing_orders.py)."""


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions: list[ExtensionFactory] = [Problems, *abuse_limits()]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=BankMutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=t.SCALARS),
    )
