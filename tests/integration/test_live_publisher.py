"""A batch of live messages goes to Redis in one command (server.readmodel.cache.
LivePublisher): every message reaches its channel, in the order it was given."""

from __future__ import annotations

import asyncio
import time
import uuid

from redis.asyncio import Redis

from server.readmodel.cache import LivePublisher, live_channel
from tests.support.pubsub import subscribed


async def test_a_batch_reaches_each_channel_whole_and_in_order(redis_client: Redis) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    batch = [(live_channel(alice if i % 3 else bob), f'{{"n":{i}}}'.encode()) for i in range(300)]
    async with subscribed(redis_client, live_channel(alice), live_channel(bob)) as sub:
        await LivePublisher(redis_client).publish_all(batch)
        await LivePublisher(redis_client).publish_all([])  # nothing to send: no command
        got: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + 5.0
        while len(got) < len(batch) and time.monotonic() < deadline:
            m = await sub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if m is not None:
                got.append((m["channel"].decode(), m["data"]))
        await asyncio.sleep(0.2)
        extra = await sub.get_message(ignore_subscribe_messages=True, timeout=0.2)
    assert got == batch
    assert extra is None
