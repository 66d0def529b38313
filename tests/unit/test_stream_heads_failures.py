"""What the readers of stream heads get when the statement fails or its reader task is
cancelled (server/adapters/postgres/stream_heads.py): the error, or a cancellation;
never a wait without end."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from server.adapters.postgres.stream_heads import StreamHeads


class _DownPool:
    async def fetch(self, *args: Any) -> list[Any]:
        raise ConnectionRefusedError("the database is down")


class _StuckPool:
    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def fetch(self, *args: Any) -> list[Any]:
        self.asked.set()
        await asyncio.Event().wait()  # never answers
        return []


async def test_every_reader_gets_the_error_of_the_statement() -> None:
    heads = StreamHeads(_DownPool())  # type: ignore[arg-type]
    got = await asyncio.gather(
        *(heads.head(uuid.uuid4()) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(e, ConnectionRefusedError) for e in got), got
    assert heads.queries == 0


async def test_readers_are_cancelled_with_their_reader_task_not_left_waiting() -> None:
    pool = _StuckPool()
    heads = StreamHeads(pool)  # type: ignore[arg-type]
    first = asyncio.ensure_future(heads.head(uuid.uuid4()))
    await pool.asked.wait()
    second = asyncio.ensure_future(heads.head(uuid.uuid4()))  # waits for the next statement
    await asyncio.sleep(0)
    assert heads._reader is not None
    heads._reader.cancel()
    for reader in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(reader, 1.0)


class _HangingThenTimedOutPool:
    """A statement that waits for its timeout and fails (a database that hangs)."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.statements = 0
        self.time_out = asyncio.Event()

    async def fetch(self, *args: Any) -> list[Any]:
        self.statements += 1
        self.asked.set()
        await self.time_out.wait()
        raise TimeoutError("no answer within the statement timeout")


async def test_readers_who_came_while_a_failing_statement_was_out_get_its_error() -> None:
    """They are not sent in a second statement that would wait its timeout again."""
    pool = _HangingThenTimedOutPool()
    heads = StreamHeads(pool)  # type: ignore[arg-type]
    first = asyncio.ensure_future(heads.head(uuid.uuid4()))
    await pool.asked.wait()
    later = [asyncio.ensure_future(heads.head(uuid.uuid4())) for _ in range(3)]
    await asyncio.sleep(0)
    pool.time_out.set()
    got = await asyncio.gather(first, *later, return_exceptions=True)
    assert all(isinstance(e, TimeoutError) for e in got), got
    assert pool.statements == 1
