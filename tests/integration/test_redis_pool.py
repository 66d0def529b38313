"""The API's Redis client under a burst: more commands at once than it has connections.

redis-py's default pool failed the surplus at once with "Too many connections", which
the edge answered 503 with Redis healthy (seen in the bench's push scenario: 24 of
30,000 deposits). The API's client (server/api/bootstrap.py ``redis_client``) waits
for a connection instead, and still fails, as a ConnectionError (503), when none
comes free in time. Against the stack's real Redis.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.adapters.redis_pool import WaitingConnectionPool
from server.api.bootstrap import redis_client

BURST = 12
HOLD_SECONDS = 0.2  # each command holds its connection this long (BLPOP on an empty list)


async def _burst(client: Redis) -> list[object]:
    """BURST commands at once through ``client``; each answer, or the error it raised."""
    empty = f"bank-test-empty-{uuid.uuid4()}"
    try:
        return await asyncio.gather(
            *(client.blpop([empty], timeout=HOLD_SECONDS) for _ in range(BURST)),
            return_exceptions=True,
        )
    finally:
        await client.aclose()


async def test_a_burst_beyond_the_pool_waits_for_connections_instead_of_failing(
    stack: EmbeddedStack,
) -> None:
    started = time.monotonic()
    answers = await _burst(redis_client(Settings.from_env(stack.env()), max_connections=3))
    took = time.monotonic() - started
    assert answers == [None] * BURST, answers  # every BLPOP timed out empty: none failed
    # Three at a time: the burst took about BURST / 3 holds, so commands did wait.
    assert took >= (BURST / 3 - 1) * HOLD_SECONDS, took


async def test_a_pool_that_stays_busy_past_the_wait_is_a_connection_error(
    stack: EmbeddedStack,
) -> None:
    pool = WaitingConnectionPool.from_url(stack.redis_url, max_connections=2, wait_seconds=0.05)
    answers = await _burst(Redis.from_pool(pool))
    failed = [a for a in answers if isinstance(a, BaseException)]
    assert failed, "the commands that found no connection in time should have failed"
    assert all(isinstance(a, RedisConnectionError) for a in failed), failed
    assert "stayed busy" in str(failed[0])
    assert answers.count(None) >= 2  # the two that had connections answered
