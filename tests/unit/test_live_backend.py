"""The live feed's subscriptions (server/api/live.py) without a Redis: a SUBSCRIBE that
could not be sent leaves nothing to wait for, and one never answered is waited for at
most CONFIRM_SECONDS (docs/adr/0364)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from server.api.live import CONFIRM_SECONDS, LiveChannels, ResumingPubSubBackend


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_subscribe_that_could_not_be_sent_is_not_waited_for() -> None:
    redis = Redis(host="127.0.0.1", port=_closed_port(), retry=Retry(NoBackoff(), 0))
    backend = ResumingPubSubBackend(redis=redis)
    try:
        with pytest.raises(RedisConnectionError):
            await backend.subscribe(["bank.live.user.x"])
        # Nothing was sent, so no answer will come: a later subscriber of the channel
        # waits only for its own SUBSCRIBE, not for this one's answer as well.
        assert await backend.confirmed(["bank.live.user.x"], timeout=0.2)
    finally:
        await redis.aclose()


async def test_a_subscription_redis_never_confirms_goes_on_after_confirm_seconds() -> None:
    """A server that takes the SUBSCRIBE and never answers (Redis stuck): the socket
    gets its catch-up after CONFIRM_SECONDS, as before ADR 0364, not never."""
    taken = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # the SUBSCRIBE; never answered
        taken.set()
        await reader.read()  # until the client goes away
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # RESP2 without client names: redis-py sends nothing on connect that needs an answer.
    redis = Redis(host="127.0.0.1", port=port, protocol=2, driver_info=None)
    loop = asyncio.get_running_loop()
    try:
        async with LiveChannels(redis) as channels:
            start = loop.time()
            subscriber = await channels.subscribe("bank.live.user.y")
            waited = loop.time() - start
            assert taken.is_set()
            await channels.unsubscribe(subscriber)
    finally:
        await redis.aclose()
        server.close()
    assert CONFIRM_SECONDS * 0.9 <= waited < CONFIRM_SECONDS + 0.5, waited
