"""After a batch is committed: refresh the Redis query cache of every touched
account and PUBLISH one message per changed account on its owner's channel
(the API instances forward it to the owner's WebSockets)."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec
from redis.exceptions import NoScriptError

from server.projections.plan import AccountUpdate, PostingRow
from server.queries.cache import QueryCache, accounts_gen_key, live_channel
from server.queries.rows import account_response, posting_response
from shared.messages import AccountStatusChanged, BalanceChanged, ServerMessage
from shared.money import Money

_encoder = msgspec.json.Encoder()


def messages_for(
    row: asyncpg.Record, update: AccountUpdate | None, opened: bool
) -> list[ServerMessage]:
    """What the owner's devices are told: the new balance (with the latest
    posting) when money moved or the account is new, the status when it changed."""
    msgs: list[ServerMessage] = []
    balance = Money(amount=row["balance"], currency=row["currency"])
    posting: PostingRow | None = update.last_posting if update else None
    if opened or posting is not None:
        msgs.append(
            BalanceChanged(
                account_id=row["account_id"],
                balance=balance,
                version=row["version"],
                transaction=posting_response(posting) if posting else None,
            )
        )
    if update is not None and update.status is not None:
        msgs.append(
            AccountStatusChanged(
                account_id=row["account_id"], status=row["status"], version=row["version"]
            )
        )
    return msgs


async def publish_changes(
    cache: QueryCache,
    rows: list[asyncpg.Record],
    updates: dict[UUID, AccountUpdate],
    opened: set[UUID],
) -> int:
    """Refresh caches and publish; returns the number of messages published."""
    if not rows:
        return 0
    try:
        return await _publish(cache, rows, updates, opened)
    except NoScriptError:  # Redis restarted and forgot the cache script
        await cache.load_scripts()
        return await _publish(cache, rows, updates, opened)


async def _publish(
    cache: QueryCache,
    rows: list[asyncpg.Record],
    updates: dict[UUID, AccountUpdate],
    opened: set[UUID],
) -> int:
    published = 0
    async with cache.redis.pipeline(transaction=False) as pipe:
        owners: set[UUID] = set()
        for row in rows:
            cache.queue_put_account(pipe, account_response(row))
            owners.add(row["owner_id"])
            for msg in messages_for(
                row, updates.get(row["account_id"]), row["account_id"] in opened
            ):
                pipe.publish(live_channel(row["owner_id"]), _encoder.encode(msg))
                published += 1
        for owner in owners:
            pipe.incr(accounts_gen_key(owner))
        await pipe.execute()
    return published
