"""Redis pub/sub in tests.

``subscribed``: a subscription Redis has confirmed. A SUBSCRIBE written to a pooled
connection that Redis had closed (an earlier test restarted it) is sent again only
when redis-py reads the reply; what is published before that is not delivered.

``subscribers_cut_off``: a gap in Redis pub/sub for the API's live feed. Its
subscriber connections are cut, and Redis, its client limit set below what it has,
refuses them new ones until the block ends. Connections already open go on working
(the projection worker's, if it has one), so what is published meanwhile reaches no
API process and is lost.

A connection the API opens meanwhile is refused too: make the change to publish
before the cut (with the projection worker stopped), and let the worker go inside."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.client import PubSub


@asynccontextmanager
async def subscribed(redis: Redis, *channels: str) -> AsyncIterator[PubSub]:
    """A PubSub on ``channels``, yielded once Redis has confirmed each of them."""
    sub = redis.pubsub()
    try:
        await sub.subscribe(*channels)
        confirmed = 0
        deadline = time.monotonic() + 5.0
        while confirmed < len(channels):
            assert time.monotonic() < deadline, "Redis did not confirm the subscriptions"
            m = await sub.get_message(timeout=0.2)
            confirmed += m is not None and m["type"] == "subscribe"
        yield sub
    finally:
        await sub.aclose()


@asynccontextmanager
async def subscribers_cut_off(redis: Redis) -> AsyncIterator[None]:
    limit = (await redis.config_get("maxclients"))["maxclients"]
    deadline = time.monotonic() + 10
    while not (subscribers := await redis.client_list(_type="pubsub")):
        assert time.monotonic() < deadline, "the API subscribes to Redis pub/sub"
        await asyncio.sleep(0.05)
    # Redis keeps the connections it has beyond the limit: 1 refuses every new one,
    # whoever else connects or leaves meanwhile.
    await redis.config_set("maxclients", 1)
    try:
        killed = await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        assert killed == len(subscribers)
        yield
        assert await redis.client_list(_type="pubsub") == [], "a subscriber got back in"
    finally:
        await redis.config_set("maxclients", limit)
