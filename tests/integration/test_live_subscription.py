"""A live subscription (the WebSocket feed, the GraphQL subscription) is in place in
Redis when ``start_subscription`` returns, so the catch-up read after it misses
nothing published in between (server/api/live.py, docs/adr/0364).

Redis is paused (CLIENT PAUSE) while the subscription is made: its SUBSCRIBE waits
in the socket, and a subscription that returned without Redis's answer would return
long before the pause ends."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.api.bootstrap import redis_client as app_redis_client
from server.api.live import LiveChannels

PAUSE_MS = 400


async def _timed_subscription(
    channels: LiveChannels, channel: str, publisher: Redis
) -> tuple[float, int]:
    """Seconds until the subscription returned, and how many subscribers Redis then
    delivered a message on ``channel`` to."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with channels.start_subscription([channel]) as subscriber:
        waited = loop.time() - start
        events = subscriber.iter_events().__aiter__()
        receivers = await publisher.publish(channel, b"after")
        assert await asyncio.wait_for(anext(events), 5) == b"after"
    return waited, receivers


async def test_a_live_subscription_returns_once_redis_has_confirmed_it(
    stack: EmbeddedStack, redis_client: Redis
) -> None:
    app_redis = app_redis_client(Settings.from_env(stack.env()))
    try:
        async with LiveChannels(app_redis) as channels:
            # A first subscription opens the feed's connection; Redis is not paused yet.
            await _timed_subscription(channels, f"test.live.{uuid.uuid4()}", redis_client)
            channel = f"test.live.{uuid.uuid4()}"
            await redis_client.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
            # Two sockets of one customer at once: Litestar sends one SUBSCRIBE, and the
            # second waits for the answer to the first.
            (first, to_first), (second, to_second) = await asyncio.gather(
                _timed_subscription(channels, channel, redis_client),
                _timed_subscription(channels, channel, redis_client),
            )
    finally:
        await app_redis.aclose()
    assert first >= 0.8 * PAUSE_MS / 1000, first
    assert second >= 0.8 * PAUSE_MS / 1000, second
    assert to_first >= 1 and to_second >= 1


async def test_the_first_subscriptions_of_a_fresh_feed_made_at_once_all_receive(
    stack: EmbeddedStack, redis_client: Redis
) -> None:
    """Six customers' sockets at once on an API process whose feed has no connection yet
    (as at the start of the chaos suite): each subscription receives what is published
    on its channel. redis-py's PubSub opened one connection per concurrent first
    SUBSCRIBE and kept the last, so the others' subscriptions sat on connections nobody
    read, and their screens never got a push."""
    app_redis = app_redis_client(Settings.from_env(stack.env()))
    try:
        async with LiveChannels(app_redis) as channels:
            names = [f"test.live.{uuid.uuid4()}" for _ in range(6)]
            subscribed = await asyncio.gather(
                *(_timed_subscription(channels, name, redis_client) for name in names)
            )
    finally:
        await app_redis.aclose()
    assert [receivers for _, receivers in subscribed] == [1] * len(names), subscribed
