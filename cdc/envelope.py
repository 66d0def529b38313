"""Debezium-style change envelopes, built from decoded pgoutput rows.

Shape (Debezium's JSON converter with schemas disabled)::

    {"before": {...} | null, "after": {...} | null,
     "source": {"version", "connector": "bank-cdc", "name", "ts_ms", "snapshot",
                "db", "schema", "table", "txId", "lsn"},
     "op": "c" | "u" | "d" | "r" | "t", "ts_ms": ..., "transaction": null}

Column values come as PostgreSQL text; each is converted by its type: integers
to numbers, booleans, timestamps to ISO-8601 (UTC, ``Z``), uuid/text/numeric to
strings (numeric stays a string so no float ever touches an amount), and
json/jsonb embedded as JSON as they are (not re-encoded as a string, unlike
Debezium's ``io.debezium.data.Json``; consumers get the object itself).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

import msgspec

from cdc.pgoutput import Column, ColumnValue, Unchanged

CONNECTOR = "bank-cdc"
ENVELOPE_VERSION = "1.0"


class UnconvertibleValueError(ValueError):
    """A column value that does not parse as its declared type."""


def _bool(v: bytes) -> bool:
    if v == b"t":
        return True
    if v == b"f":
        return False
    raise UnconvertibleValueError(f"not a boolean: {v!r}")


def _timestamptz(v: bytes) -> str:
    # '2026-11-25 15:50:34.560778+00' (session TimeZone is UTC) -> ISO-8601
    text = v.decode()
    date, _, rest = text.partition(" ")
    if rest.endswith("+00"):
        return f"{date}T{rest[:-3]}Z"
    if len(rest) > 3 and rest[-3] in "+-" and rest[-2:].isdigit():
        return f"{date}T{rest}:00"
    return f"{date}T{rest}"


def _timestamp(v: bytes) -> str:
    return v.decode().replace(" ", "T", 1)


_U32 = struct.Struct(">I").unpack_from  # a big-endian length, read in place

# Builtins where they do the job: C calls, no Python frame per value (hot path).
_CONVERTERS: dict[int, Callable[[bytes], Any]] = {
    16: _bool,
    20: int,  # int8 (int() parses ASCII bytes)
    21: int,  # int2
    23: int,  # int4
    26: int,  # oid
    700: float,  # float4: never used for money
    701: float,
    114: msgspec.Raw,  # json
    3802: msgspec.Raw,  # jsonb
    1184: _timestamptz,
    1114: _timestamp,
}
_text = bytes.decode


def converter_for(type_oid: int) -> Callable[[bytes], Any]:
    return _CONVERTERS.get(type_oid, _text)


class TableShape:
    """What a Relation message says about a table, with per-column converters."""

    __slots__ = ("oid", "schema", "table", "columns", "names", "converters", "pairs", "index")

    def __init__(self, oid: int, schema: str, table: str, columns: tuple[Column, ...]) -> None:
        self.oid = oid
        self.schema = schema
        self.table = table
        self.columns = columns
        self.names = [c.name for c in columns]
        self.converters = [converter_for(c.type_oid) for c in columns]
        self.pairs = list(zip(self.names, self.converters, strict=True))
        self.index = {name: i for i, name in enumerate(self.names)}

    def row(self, values: list[ColumnValue] | None) -> dict[str, Any] | None:
        """Typed dict of a pgoutput tuple; unchanged TOAST values are left out."""
        if values is None:
            return None
        if len(values) != len(self.names):
            raise UnconvertibleValueError(
                f"{self.table}: tuple has {len(values)} columns, relation has {len(self.names)}"
            )
        out: dict[str, Any] = {}
        name = ""
        try:
            for name, conv, value in zip(self.names, self.converters, values, strict=True):
                if value is None:
                    out[name] = None
                elif not isinstance(value, Unchanged):  # UNCHANGED is its one instance
                    out[name] = conv(value)
        except UnconvertibleValueError:
            raise
        except ValueError as exc:  # includes UnicodeDecodeError
            raise UnconvertibleValueError(f"{self.table}.{name}: {exc}") from exc
        return out

    def parse_tuple(self, data: bytes, pos: int) -> dict[str, Any]:
        """Hot path: pgoutput TupleData at ``pos`` straight to a typed dict, one pass.

        Raises on anything unusual (any error: the caller falls back to the
        generic decoder, which turns it into a ProtocolError or a dead letter).
        """
        if data[pos] << 8 | data[pos + 1] != len(self.names):
            raise ValueError("column count differs from the relation")
        pos += 2
        out: dict[str, Any] = {}
        u32 = _U32
        for name, conv in self.pairs:
            kind = data[pos]
            if kind == 0x74:  # 't'
                start = pos + 5
                pos = start + u32(data, pos + 1)[0]
                out[name] = conv(data[start:pos])
            elif kind == 0x6E:  # 'n'
                out[name] = None
                pos += 1
            elif kind == 0x75:  # 'u': unchanged TOAST, left out
                pos += 1
            else:
                raise ValueError(f"column kind {kind!r}")
        if pos != len(data):
            raise ValueError("trailing bytes after the tuple")
        return out

    def text_row(self, values: list[ColumnValue] | None) -> dict[str, str | None]:
        """The row as raw text, for dead letters (nothing can fail here)."""
        if values is None:
            return {}
        names = self.names + [f"_col{i}" for i in range(len(self.names), len(values))]
        return {
            n: (
                None if v is None or isinstance(v, Unchanged) else bytes(v).decode(errors="replace")
            )
            for n, v in zip(names, values, strict=False)  # a short tuple: what it has
        }


class Source(msgspec.Struct, kw_only=True, gc=False):
    version: str = ENVELOPE_VERSION
    connector: str = CONNECTOR
    name: str
    ts_ms: int
    snapshot: str  # "true" | "last" | "false" (Debezium's strings)
    db: str
    schema: str
    table: str
    txId: int | None
    lsn: int | None


class ChangeEnvelope(msgspec.Struct, kw_only=True, gc=False):
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: Source
    op: str
    ts_ms: int
    transaction: None = None


_encoder = msgspec.json.Encoder()
envelope_decoder = msgspec.json.Decoder(ChangeEnvelope)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def encode_change(
    *,
    op: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    server_name: str,
    db: str,
    schema: str,
    table: str,
    commit_ts_ms: int,
    tx_id: int | None,
    lsn: int | None,
    snapshot: str = "false",
) -> bytes:
    source = Source(
        name=server_name,
        ts_ms=commit_ts_ms,
        snapshot=snapshot,
        db=db,
        schema=schema,
        table=table,
        txId=tx_id,
        lsn=lsn,
    )
    return _encoder.encode(
        ChangeEnvelope(before=before, after=after, source=source, op=op, ts_ms=now_ms())
    )
