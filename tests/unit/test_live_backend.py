"""The live feed's backend (server/api/live.py) without a Redis: a SUBSCRIBE that
could not be sent leaves nothing to wait for (docs/adr/0364)."""

from __future__ import annotations

import socket

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from server.api.live import ResumingPubSubBackend


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
