"""The API's Redis client under a burst, and in front of a Redis that stops answering.

redis-py's default pool failed the surplus at once with "Too many connections", which
the edge answered 503 with Redis healthy (seen in the bench's push scenario: 24 of
30,000 deposits). The API's client (server/api/bootstrap.py ``redis_client``) waits
for a connection instead, and still fails, as a ConnectionError (503), when none
comes free in time. Against the stack's real Redis.

A frozen Redis (SIGSTOP, a host that stopped) accepts connections and answers
nothing. Each command waited out the socket timeout, was retried, and waited again: a
GET took 4 to 6 s to get its 503. The pool now stops asking after one timeout. Here a
relay between the client and the stack's real Redis goes silent and answers again,
as a frozen Redis does.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.adapters.redis_pool import WaitingConnectionPool
from server.api.bootstrap import (
    REDIS_COOL_OFF_SECONDS,
    REDIS_SOCKET_TIMEOUT_SECONDS,
    redis_client,
)

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
    pool = WaitingConnectionPool.from_url(
        stack.redis_url, max_connections=2, wait_seconds=0.05, cool_off_seconds=1.0
    )
    answers = await _burst(Redis.from_pool(pool))
    failed = [a for a in answers if isinstance(a, BaseException)]
    assert failed, "the commands that found no connection in time should have failed"
    assert all(isinstance(a, RedisConnectionError) for a in failed), failed
    assert "stayed busy" in str(failed[0])
    assert answers.count(None) >= 2  # the two that had connections answered


class FreezableRelay:
    """A TCP relay to the stack's Redis that can go silent: while frozen, what either
    side sends is held back, as by a Redis that stopped running."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FreezableRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.redis_port)
        for source, sink in ((client_r, redis_w), (redis_r, client_w)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._thawed.wait()
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()


async def _timed(command: Awaitable[object]) -> tuple[object, float]:
    """What ``command`` answered or raised, and how long it took."""
    started = time.monotonic()
    try:
        answer = await command
    except Exception as exc:  # noqa: BLE001 - the error is the answer here
        answer = exc
    return answer, time.monotonic() - started


async def test_a_redis_that_stops_answering_costs_one_timeout_then_fails_fast_until_it_answers(
    stack: EmbeddedStack,
) -> None:
    redis_port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    async with FreezableRelay(redis_port) as relay:
        client = redis_client(Settings.from_env({**stack.env(), "BANK_REDIS_URL": relay.url}))
        try:
            key = f"bank-test-breaker-{uuid.uuid4()}"
            assert await client.set(key, "1") is True
            relay.freeze()
            # The first command waits out the socket timeout, once: it is not retried.
            answer, took = await _timed(client.get(key))
            assert isinstance(answer, RedisTimeoutError), answer
            assert REDIS_SOCKET_TIMEOUT_SECONDS - 0.1 <= took < REDIS_SOCKET_TIMEOUT_SECONDS + 1.0
            # Until the cool-off is over, every command fails at once, as a 503 would.
            for _ in range(3):
                answer, took = await _timed(client.get(key))
                assert isinstance(answer, RedisConnectionError), answer
                assert "not asked again" in str(answer)
                assert took < 0.05, took
            # Then one command tries, and the others are still refused while it waits.
            await asyncio.sleep(REDIS_COOL_OFF_SECONDS)
            trying = asyncio.create_task(_timed(client.get(key)))
            await asyncio.sleep(0.05)
            answer, took = await _timed(client.get(key))
            assert isinstance(answer, RedisConnectionError) and took < 0.05, (answer, took)
            relay.thaw()  # Redis answers the try: the breaker closes
            answer, _ = await trying
            assert answer == b"1", answer
            assert await asyncio.gather(*(client.get(key) for _ in range(5))) == [b"1"] * 5
            await client.delete(key)
        finally:
            relay.thaw()
            await client.aclose()
