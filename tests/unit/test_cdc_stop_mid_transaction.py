"""A clean stop that lands inside a transaction reads on to its commit.

pgoutput sends a transaction only once it has committed, but the connector may
get SIGTERM after publishing part of it. Confirming only the commit before it
would make the next session send that part again; reading on to the commit lets
the whole transaction be confirmed. Fakes stand in for the replication stream
and Kafka, so the order of events is exact, not a race under load.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from cdc.connector import Connector
from cdc.reader import RawMessage
from cdc.router import OutRecord
from runtime.settings import Settings


def _cstr(s: str) -> bytes:
    return s.encode() + b"\x00"


def _begin(final_lsn: int, xid: int) -> bytes:
    return b"B" + struct.pack("!qqI", final_lsn, 1_000, xid)


def _commit(commit_lsn: int, end_lsn: int) -> bytes:
    return b"C" + struct.pack("!bqqq", 0, commit_lsn, end_lsn, 1_000)


def _relation(oid: int) -> bytes:
    """A table the connector does not capture: each row goes to the dead-letter
    topic, which is still one published record per row."""
    body = struct.pack("!I", oid) + _cstr("public") + _cstr("notes") + b"d" + struct.pack("!h", 1)
    body += b"\x01" + _cstr("id") + struct.pack("!Ii", 20, -1)
    return b"R" + body


def _insert(oid: int, value: int) -> bytes:
    text = str(value).encode()
    return (
        b"I"
        + struct.pack("!I", oid)
        + b"N"
        + struct.pack("!h", 1)
        + b"t"
        + struct.pack("!i", len(text))
        + text
    )


class FakePublisher:
    """Acks everything at once; remembers what was published and the last commit."""

    def __init__(self, on_acked: Any) -> None:
        self.records: list[OutRecord] = []
        self.inflight_records = 0
        self._on_acked = on_acked
        self._commit: int | None = None

    def append(self, record: OutRecord) -> None:
        self.records.append(record)

    def note_commit(self, end_lsn: int, ts_us: int) -> None:
        self._commit = end_lsn

    def seal(self) -> None:
        if self._commit is not None:
            self._on_acked(self._commit, [], 0)
            self._commit = None

    async def wait_drained(self) -> None:
        return None

    async def broker_intact(self) -> bool:
        return True


class FakeStream:
    """Hands the connector what the server sent, one drain at a time, while reading."""

    def __init__(self, connector: Connector, pending: list[list[RawMessage]]) -> None:
        self.connector = connector
        self.pending = pending
        self.reading = False
        self.confirmed_lsn = 0

    @property
    def paused(self) -> bool:
        return not self.reading

    def resume(self) -> None:
        self.reading = True
        asyncio.get_running_loop().call_soon(self.drain)

    def pause(self) -> None:
        self.reading = False

    def drain(self) -> None:
        if self.reading and self.pending:
            self.connector._on_messages(self.pending.pop(0))
            asyncio.get_running_loop().call_soon(self.drain)

    def confirm(self, lsn: int, force: bool = False) -> None:
        self.confirmed_lsn = max(self.confirmed_lsn, lsn)

    def describe(self) -> str:
        return f"confirmed {self.confirmed_lsn}"


def _connector(
    first: list[RawMessage], rest: list[list[RawMessage]]
) -> tuple[Connector, FakeStream, FakePublisher]:
    connector = Connector(Settings())
    pub = FakePublisher(connector._round_acked)
    stream = FakeStream(connector, rest)
    connector._pub, connector._reader = pub, stream  # type: ignore[assignment]
    connector._failure = asyncio.get_running_loop().create_future()
    connector._on_messages(first)  # read so far; then SIGTERM
    return connector, stream, pub


async def test_a_stop_inside_a_transaction_confirms_it_whole() -> None:
    oid = 16_400
    first = [(10, _relation(oid)), (20, _begin(200, 7)), (30, _insert(oid, 1))]
    rest = [
        [(40, _insert(oid, 2)), (50, _insert(oid, 3))],
        [(60, _commit(190, 200)), (210, _begin(400, 8)), (220, _insert(oid, 4))],
        [(230, _commit(390, 400))],
    ]
    connector, stream, pub = _connector(first, rest)
    assert connector._in_txn and stream.confirmed_lsn == 0

    await connector._drain_and_confirm()

    # The whole first transaction, and nothing of the next one, was published
    # and confirmed: a restart reads from 200, where the next transaction starts.
    assert stream.confirmed_lsn == 200
    assert len(pub.records) == 3
    assert stream.paused and rest == [[(230, _commit(390, 400))]]


async def test_a_stop_between_transactions_reads_nothing_more() -> None:
    oid = 16_401
    first = [
        (10, _relation(oid)),
        (20, _begin(200, 7)),
        (30, _insert(oid, 1)),
        (40, _commit(190, 200)),
    ]
    rest = [[(210, _begin(400, 8)), (220, _insert(oid, 2)), (230, _commit(390, 400))]]
    connector, stream, pub = _connector(first, rest)

    await connector._drain_and_confirm()

    assert stream.confirmed_lsn == 200
    assert len(pub.records) == 1
    assert len(rest) == 1
