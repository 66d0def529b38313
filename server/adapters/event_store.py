"""The event store over asyncpg: read a stream. Appends go through the unit of work
(server/adapters/postgres/unit_of_work.py), one statement with the rest of a
command's writes; the events table is the one row per fact the CDC connector routes."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from shared.events import AnyEvent, event_decoder

__all__ = ["event_decoder", "read_stream"]


async def read_stream(
    conn: asyncpg.Connection, stream_id: UUID, after_version: int = 0
) -> list[AnyEvent]:
    rows = await conn.fetch(
        "SELECT payload FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version",
        stream_id,
        after_version,
    )
    return [event_decoder.decode(r["payload"]) for r in rows]
