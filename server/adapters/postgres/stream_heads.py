"""The head version of event streams, read together.

Every plain read of an account asks for its stream's head, so that it is never older
than a write its caller saw (server/queries/accounts.py). Under load many reads ask at
once; here the ones that arrive while a query is out wait for it and then go together
in the next one: one round trip and one statement for all of them, an index look-up
per stream (docs/adr/0308-stream-heads-read-together.md). A query that fails fails the
readers that came meanwhile as well (docs/adr/0717).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import UUID

import asyncpg

# A scalar subquery per stream: the planner cannot turn it into a join, so it stays an
# index scan on events (stream_id, version), newest first, whatever plan is cached.
_HEADS = (
    "SELECT s.id, (SELECT e.version FROM events e WHERE e.stream_id = s.id"
    " ORDER BY e.version DESC LIMIT 1) FROM unnest($1::uuid[]) AS s(id)"
)


class StreamHeads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._waiting: dict[UUID, list[asyncio.Future[int]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.queries = 0  # for tests: how many statements answered the reads

    async def head(self, stream_id: UUID) -> int:
        """The stream's newest version (0: no events)."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(stream_id, []).append(future)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_while_asked())
        return await future

    async def _read_while_asked(self) -> None:
        try:
            while self._waiting:
                asked, self._waiting = self._waiting, {}
                try:
                    rows = await self.pool.fetch(_HEADS, list(asked))
                except Exception as exc:  # noqa: BLE001 - each reader gets it (503 upstream)
                    # The readers that came while it was out get it too: a database that
                    # did not answer this read would make them wait as long again.
                    joined, self._waiting = self._waiting, {}
                    for _, f in [*_still_waiting(asked), *_still_waiting(joined)]:
                        f.set_exception(exc)
                    continue
                except BaseException:  # cancelled: so are the readers, rather than wait forever
                    for _, f in [*_still_waiting(asked), *_still_waiting(self._waiting)]:
                        f.cancel()
                    self._waiting = {}
                    raise
                self.queries += 1
                heads = {row[0]: row[1] or 0 for row in rows}
                for stream_id, f in _still_waiting(asked):
                    f.set_result(heads.get(stream_id, 0))
        finally:
            self._reader = None


def _still_waiting(
    asked: dict[UUID, list[asyncio.Future[int]]],
) -> Iterator[tuple[UUID, asyncio.Future[int]]]:
    """Each reader's stream and future, but for the readers that went away."""
    for stream_id, futures in asked.items():
        for f in futures:
            if not f.done():
                yield stream_id, f
