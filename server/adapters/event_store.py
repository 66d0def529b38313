"""The event store over asyncpg: read a stream, append to several streams at once.

An append writes the events and their outbox rows in ONE statement (a CTE), so
an event can never exist without the record the CDC connector publishes. The
caller owns the transaction; UNIQUE (stream_id, version) turns a lost race into
ConcurrencyError.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import msgspec

from server.domain.errors import ConcurrencyError
from shared.events import (
    STREAM_TYPE_ACCOUNT,
    STREAM_TYPE_TRANSFER,
    AnyEvent,
    Event,
    EventMetadata,
    event_decoder,
    event_encoder,
    event_type_name,
)
from shared.topics import topic_for_stream_type

_APPEND_SQL = """
WITH e AS (
    INSERT INTO events (event_id, stream_id, stream_type, version, event_type, payload, metadata)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[],
                         $6::jsonb[], $7::jsonb[])
    RETURNING global_position, event_id, stream_id, stream_type, version, event_type,
              payload, metadata, recorded_at
)
INSERT INTO outbox (event_id, aggregate_type, aggregate_id, topic, key, event_type, payload, headers)
SELECT e.event_id, e.stream_type, e.stream_id,
       CASE e.stream_type WHEN 'account' THEN $8 ELSE $9 END,
       e.stream_id::text, e.event_type,
       jsonb_build_object(
           'event_id', e.event_id, 'stream_id', e.stream_id, 'stream_type', e.stream_type,
           'version', e.version, 'position', e.global_position, 'recorded_at', e.recorded_at,
           'metadata', e.metadata, 'event', e.payload),
       jsonb_strip_nulls(jsonb_build_object(
           'event_id', e.event_id::text, 'event_type', e.event_type,
           'version', e.version::text, 'trace_id', e.metadata->>'trace_id'))
FROM e ORDER BY e.global_position
"""

_metadata_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """New events for one stream, expected to follow ``expected_version``."""

    stream_id: UUID
    stream_type: str
    expected_version: int
    events: Sequence[Event]


async def read_stream(
    conn: asyncpg.Connection, stream_id: UUID, after_version: int = 0
) -> list[AnyEvent]:
    rows = await conn.fetch(
        "SELECT payload FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version",
        stream_id,
        after_version,
    )
    return [event_decoder.decode(r["payload"]) for r in rows]


async def append(
    conn: asyncpg.Connection, appends: Sequence[StreamAppend], metadata: EventMetadata
) -> None:
    await append_each(conn, [(appends, metadata)])


async def append_each(
    conn: asyncpg.Connection, commands: Sequence[tuple[Sequence[StreamAppend], EventMetadata]]
) -> None:
    """Append the events of several commands, each with its own metadata, in one statement."""
    ids: list[UUID] = []
    streams: list[UUID] = []
    types: list[str] = []
    versions: list[int] = []
    names: list[str] = []
    payloads: list[str] = []
    metas: list[str] = []
    for appends, metadata in commands:
        meta = _metadata_encoder.encode(metadata).decode()
        for a in appends:
            for offset, event in enumerate(a.events, start=1):
                ids.append(uuid.uuid4())
                streams.append(a.stream_id)
                types.append(a.stream_type)
                versions.append(a.expected_version + offset)
                names.append(event_type_name(event))
                payloads.append(event_encoder.encode(event).decode())
                metas.append(meta)
    if not ids:
        return
    try:
        await conn.execute(
            _APPEND_SQL,
            ids,
            streams,
            types,
            versions,
            names,
            payloads,
            metas,
            topic_for_stream_type(STREAM_TYPE_ACCOUNT),
            topic_for_stream_type(STREAM_TYPE_TRANSFER),
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "events_stream_version_key":
            raise ConcurrencyError("another command appended to the stream first") from exc
        raise
