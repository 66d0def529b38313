"""The cached accounts in Redis (server/readmodel/cache.py) against the stack's real
Redis: a cached account is only ever replaced by a newer version of it, whoever
writes (the API filling the cache, the projection worker's batch), and every message
of a batch is published in order, whether its account was newer or not."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
import pytest
from redis.asyncio import Redis

from infra.local.stack import EmbeddedStack
from server.readmodel.cache import (
    AccountChange,
    QueryCache,
    account_key,
    accounts_gen_key,
    live_channel,
)
from shared.api import AccountResponse, Money


@pytest.fixture
async def redis(stack: EmbeddedStack) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def account(account_id: uuid.UUID, owner: uuid.UUID, version: int, name: str) -> AccountResponse:
    return AccountResponse(
        id=account_id,
        name=name,
        currency="EUR",
        status="active",
        balance=Money(amount=100 * version, currency="EUR"),
        version=version,
        owner_id=owner,
        opened_at=datetime.now(UTC),
    )


async def cached_version(redis: Redis, account_id: uuid.UUID) -> int | None:
    raw = await redis.get(account_key(account_id))
    return None if raw is None else msgspec.json.decode(raw, type=AccountResponse).version


async def test_only_a_newer_version_replaces_a_cached_account(redis: Redis) -> None:
    cache = QueryCache(redis)
    acc, owner = uuid.uuid4(), uuid.uuid4()
    # A name that spells the version key cannot pass for it: JSON escapes its quotes.
    tricky = 'Savings "version":999 '
    await cache.put_account(account(acc, owner, 5, tricky))
    await cache.put_account(account(acc, owner, 3, "older"))
    assert await cached_version(redis, acc) == 5
    await cache.put_account(account(acc, owner, 12, tricky))
    cached = await cache.get_account(acc)
    assert cached is not None and (cached.version, cached.name) == (12, tricky)
    await cache.put_account(account(acc, owner, 998, "newer"))
    assert await cached_version(redis, acc) == 998


async def test_a_projection_batch_refreshes_newer_accounts_and_publishes_every_message(
    redis: Redis,
) -> None:
    cache = QueryCache(redis)
    owner = uuid.uuid4()
    ahead, behind, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await cache.put_account(account(ahead, owner, 9, "ahead"))  # the API read it later
    await cache.put_account(account(behind, owner, 2, "behind"))
    generation = int(await redis.get(accounts_gen_key(owner)) or 0)

    channel = redis.pubsub()
    await channel.subscribe(live_channel(owner))
    await channel.get_message(timeout=1.0)  # the subscribe confirmation
    try:
        messages = [[f"m{i}.{j}".encode() for j in range(2)] for i in range(3)]
        await cache.refresh_and_publish(
            [
                AccountChange(account(ahead, owner, 7, "ahead 7"), messages[0]),
                AccountChange(account(behind, owner, 4, "behind 4 “quoted” ü"), messages[1]),
                AccountChange(account(new, owner, 1, "new"), messages[2]),
            ],
            [owner],
        )
        got = []
        while len(got) < 6:
            m = await channel.get_message(ignore_subscribe_messages=True, timeout=2.0)
            assert m is not None, f"published so far: {got}"
            got.append(m["data"])
    finally:
        await channel.aclose()

    assert got == [m for ms in messages for m in ms]
    assert await cached_version(redis, ahead) == 9  # not replaced by an older version
    refreshed = await cache.get_account(behind)
    assert refreshed is not None and (refreshed.version, refreshed.name) == (
        4,
        "behind 4 “quoted” ü",
    )
    assert await cached_version(redis, new) == 1
    assert int(await redis.get(accounts_gen_key(owner)) or 0) == generation + 1
