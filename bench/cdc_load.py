"""Appends events the way the write side does, for the CDC tests and benchmark.

One transaction per batch: the events rows (one row per fact; the connector
routes them to the domain topics). ``legacy_outbox=True`` also writes the
outbox rows the write side wrote before migration 0004 (payload = the
``shared.events.RecordedEvent`` envelope, headers {event_id, event_type,
version, trace_id}), to test that the connector sends nothing twice meanwhile.
"""

from __future__ import annotations

import random
import uuid
from uuid import UUID

import asyncpg
import msgspec

from shared.events import (
    STREAM_TYPE_ACCOUNT,
    AccountOpened,
    Event,
    EventMetadata,
    MoneyDeposited,
    RecordedEvent,
    event_type_name,
)
from shared.topics import TOPIC_BY_STREAM_TYPE

_enc = msgspec.json.Encoder()

# Rows travel as one JSON document per statement (msgspec encodes it in one
# call): far cheaper on the client than asyncpg's per-value array encoding.
_INSERT_EVENTS_ONLY = """
INSERT INTO events (event_id, stream_id, stream_type, version, event_type, payload, metadata)
SELECT event_id, stream_id, stream_type, version, event_type, payload, metadata
FROM jsonb_to_recordset($1::text::jsonb) AS r(event_id uuid, stream_id uuid, stream_type text,
     version int, event_type text, payload json, metadata json)
"""
_INSERT_EVENTS = _INSERT_EVENTS_ONLY + "RETURNING event_id, global_position, recorded_at\n"

_INSERT_OUTBOX = """
INSERT INTO outbox
    (event_id, aggregate_type, aggregate_id, topic, key, event_type, payload, headers)
SELECT event_id, aggregate_type, aggregate_id, topic, key, event_type, payload, headers
FROM jsonb_to_recordset($1::text::jsonb) AS r(event_id uuid, aggregate_type text,
     aggregate_id uuid, topic text, key text, event_type text, payload jsonb, headers jsonb)
"""


class Appender:
    """Deposits spread over ``accounts`` account streams, versions kept per stream."""

    def __init__(self, accounts: int = 100, seed: int | None = None) -> None:
        rnd = random.Random(seed)
        self.accounts = [UUID(int=rnd.getrandbits(128), version=4) for _ in range(accounts)]
        self.versions: dict[UUID, int] = {a: 0 for a in self.accounts}
        self.balances: dict[UUID, int] = {a: 0 for a in self.accounts}
        self._next = 0

    def next_events(self, n: int) -> list[tuple[UUID, int, Event]]:
        out = []
        for _ in range(n):
            account = self.accounts[self._next % len(self.accounts)]
            self._next += 1
            version = self.versions[account] + 1
            self.versions[account] = version
            if version == 1:
                event: Event = AccountOpened(
                    account_id=account, owner_id=account, name="bench", currency="EUR"
                )
            else:
                self.balances[account] += 100
                event = MoneyDeposited(
                    account_id=account,
                    transaction_id=uuid.uuid4(),
                    amount=100,
                    currency="EUR",
                    balance_after=self.balances[account],
                )
            out.append((account, version, event))
        return out


def event_rows(
    events: list[tuple[UUID, int, Event]], metadata: EventMetadata
) -> tuple[list[UUID], list[str], str]:
    """The event ids, type names and the one JSON document ``_INSERT_EVENTS`` takes."""
    ids = [uuid.uuid4() for _ in events]
    names = [event_type_name(e[2]) for e in events]
    rows = [
        {
            "event_id": ids[i],
            "stream_id": e[0],
            "stream_type": STREAM_TYPE_ACCOUNT,
            "version": e[1],
            "event_type": names[i],
            "payload": e[2],
            "metadata": metadata,
        }
        for i, e in enumerate(events)
    ]
    return ids, names, _enc.encode(rows).decode()


async def append_encoded(conn: asyncpg.Connection, document: str) -> None:
    """One prebuilt batch (``event_rows``) in one transaction (one autocommitted
    statement): what a load generator that has built its rows beforehand sends."""
    await conn.execute(_INSERT_EVENTS_ONLY, document)


async def append_batch(
    conn: asyncpg.Connection,
    events: list[tuple[UUID, int, Event]],
    *,
    trace_id: str | None = "bench",
    legacy_outbox: bool = False,
) -> list[RecordedEvent]:
    """Append ``(stream id, version, event)`` rows (account streams) in one transaction."""
    metadata = EventMetadata(trace_id=trace_id)
    ids, names, document = event_rows(events, metadata)
    async with conn.transaction():
        returned = await conn.fetch(_INSERT_EVENTS, document)
        placed = {r["event_id"]: r for r in returned}
        recorded = [
            RecordedEvent(
                event_id=ids[i],
                stream_id=e[0],
                stream_type=STREAM_TYPE_ACCOUNT,
                version=e[1],
                position=placed[ids[i]]["global_position"],
                recorded_at=placed[ids[i]]["recorded_at"],
                metadata=metadata,
                event=e[2],  # type: ignore[arg-type]
            )
            for i, e in enumerate(events)
        ]
        if not legacy_outbox:
            return recorded
        topic = TOPIC_BY_STREAM_TYPE[STREAM_TYPE_ACCOUNT]
        outbox = [
            {
                "event_id": r.event_id,
                "aggregate_type": STREAM_TYPE_ACCOUNT,
                "aggregate_id": r.stream_id,
                "topic": topic,
                "key": str(r.stream_id),
                "event_type": names[i],
                "payload": r,
                "headers": {
                    "event_id": str(r.event_id),
                    "event_type": names[i],
                    "version": str(r.version),
                    "trace_id": trace_id,
                },
            }
            for i, r in enumerate(recorded)
        ]
        await conn.execute(_INSERT_OUTBOX, _enc.encode(outbox).decode())
    return recorded
