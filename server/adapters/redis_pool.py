"""The API's Redis connection pool: it waits for a free connection instead of
failing, and it stops asking a Redis that has stopped answering.

**Waiting.** redis-py's asyncio ``ConnectionPool`` raises ``MaxConnectionsError``
("Too many connections") as soon as every one of its ``max_connections`` is in use:
an API process that got more than that many requests at the same moment (a burst
after a pause of the machine) answered some of them 503 while Redis was healthy. Its
``BlockingConnectionPool`` waits, but takes a condition lock and arms a timeout on
every command (20,000 GETs from 20 tasks against a local Redis, five alternated runs,
median CPU per GET: 56.4 µs with the default pool, 62.2 µs blocking, 58.5 µs with
this one). This pool is redis-py's own on the common path and waits only when the
pool is exhausted: until a connection is released, at most ``wait_seconds``; then
it raises ``ConnectionError``, which the edge answers 503 with Retry-After.

**A Redis that does not answer** (frozen, or cut off without a reset) costs every
command the socket timeout. Without a breaker each request waited for it again, and
every request in the meantime too: a GET waited 4 to 6 s before its 503. Once a
command has timed out, the pool refuses at once (``ConnectionError``, so a 503 with
Retry-After) for ``cool_off_seconds``; then it lets one command through to try, and
refuses the others while that one waits. An answer on any connection closes the
breaker again. A Redis that refuses connections (stopped, restarting) is not
tripped on: a refused connection fails in a millisecond by itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError


class Breaker:
    """Whether Redis may be asked now; shared by one pool's connections."""

    __slots__ = ("cool_off_seconds", "tripped", "_next_try_at")

    def __init__(self, cool_off_seconds: float) -> None:
        self.cool_off_seconds = cool_off_seconds
        self.tripped = False
        self._next_try_at = 0.0

    def timed_out(self) -> None:
        self.tripped = True
        self._next_try_at = time.monotonic() + self.cool_off_seconds

    def answered(self) -> None:
        self.tripped = False

    def admits(self) -> bool:
        """False while tripped and cooling off. Once the cool-off is over, True for
        one caller, the try; the next caller is admitted a cool-off later, unless an
        answer has closed the breaker by then."""
        if not self.tripped:
            return True
        now = time.monotonic()
        if now < self._next_try_at:
            return False
        self._next_try_at = now + self.cool_off_seconds
        return True


class _AnswerWatched:
    """Mixed into the pool's connection class: each read tells the breaker whether
    Redis answered or timed out."""

    breaker: Breaker

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except RedisTimeoutError:
            self.breaker.timed_out()
            raise
        if self.breaker.tripped:
            self.breaker.answered()
        return response


class WaitingConnectionPool(ConnectionPool):
    def __init__(self, *, wait_seconds: float, cool_off_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait_seconds = wait_seconds
        self.breaker = Breaker(cool_off_seconds)
        base = self.connection_class
        self.connection_class = type(f"AnswerWatched{base.__name__}", (_AnswerWatched, base), {})
        self._released = asyncio.Event()

    def make_connection(self) -> Any:
        connection = super().make_connection()
        connection.breaker = self.breaker
        return connection

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if not self.breaker.admits():
            raise RedisConnectionError(
                f"Redis did not answer within its timeout; not asked again for"
                f" {self.breaker.cool_off_seconds} s"
            )
        deadline: float | None = None
        while True:
            # Cleared before each try: a release after it wakes the wait below.
            self._released.clear()
            try:
                return await super().get_connection(*args, **kwargs)
            except MaxConnectionsError:
                now = asyncio.get_running_loop().time()
                deadline = now + self.wait_seconds if deadline is None else deadline
                if now >= deadline:
                    raise RedisConnectionError(
                        f"all {self.max_connections} Redis connections stayed busy"
                        f" for {self.wait_seconds} s"
                    ) from None
                try:
                    await asyncio.wait_for(self._released.wait(), deadline - now)
                except TimeoutError:
                    pass  # the next try decides
            except RedisTimeoutError:  # connecting, or the handshake, timed out
                self.breaker.timed_out()
                raise

    async def release(self, connection: Any) -> None:
        await super().release(connection)
        self._released.set()
