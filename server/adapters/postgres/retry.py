"""The consumers' policy for a batch that PostgreSQL did not take (the projection
worker's read models, the notification consumer's inbox).

- A broken connection (the server restarted or is unreachable, a socket reset,
  asyncpg's own state errors after such a break, e.g. ``InternalClientError:
  cannot switch to state 15; another operation (2) is in progress``) says
  nothing about the batch: the pool drops its connections and the same batch
  is tried again on a new one, with backoff, for as long as it takes. The
  consumer is then visibly stalled (GET /health, bank_pipeline_stalled), not
  crashed.
- Any other error may be the batch's own fault (a deterministic failure): it
  is tried again with backoff at most ``attempts`` times in all, then
  ``BatchFailedError`` says so (the projection worker stops the partition(s)
  involved); with ``attempts=None``, for as long as it takes too.

Nothing of a failed attempt was committed (one transaction per batch), so a
retry is always safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

log = logging.getLogger("bank.retry")

T = TypeVar("T")

ATTEMPTS = 6  # 1 + 5 retries, 0.05 + 0.1 + 0.2 + 0.4 + 0.8 s of backoff
FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 2.0

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,
    asyncpg.InterfaceError,  # e.g. "connection is closed", "another operation is in progress"
    asyncpg.exceptions.InternalClientError,  # protocol state broken by a dropped socket
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, crash, cannot connect now
    asyncpg.exceptions.TooManyConnectionsError,
)


class BatchFailedError(Exception):
    """A batch failed every attempt with an error that is not a broken connection."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"failed {attempts} times; last error: {type(last).__name__}: {last}")
        self.last = last


def is_broken_connection(exc: BaseException) -> bool:
    return isinstance(exc, CONNECTION_ERRORS)


class RetryPolicy:
    def __init__(
        self,
        on_broken_connection: Callable[[], Awaitable[None]],
        *,
        attempts: int | None = ATTEMPTS,
        first_delay: float = FIRST_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: Callable[[str], None] = lambda kind: None,
    ) -> None:
        """``on_retry("connection" | "error")`` counts each retry (a metric)."""
        self.on_broken_connection = on_broken_connection
        self.on_retry = on_retry
        self.attempts = attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.sleep = sleep

    async def run(self, attempt: Callable[[], Awaitable[T]], what: str = "batch") -> T:
        """``attempt()`` until it succeeds; raises BatchFailedError after
        ``attempts`` failures that were not broken connections."""
        failures = 0
        delay = self.first_delay
        while True:
            try:
                return await attempt()
            except Exception as exc:
                if is_broken_connection(exc):
                    self.on_retry("connection")
                    log.warning("%s: connection to PostgreSQL lost (%r); retrying", what, exc)
                    await self._drop_connections()
                else:
                    failures += 1
                    if self.attempts is not None and failures >= self.attempts:
                        raise BatchFailedError(failures, exc) from exc
                    self.on_retry("error")
                    bound = f" of {self.attempts}" if self.attempts is not None else ""
                    log.warning("%s failed (%r), attempt %d%s", what, exc, failures, bound)
            await self.sleep(delay)
            delay = min(delay * 2, self.max_delay)

    async def _drop_connections(self) -> None:
        try:
            await self.on_broken_connection()
        except Exception:  # the next attempt reconnects anyway
            log.exception("could not drop the pool's connections")
