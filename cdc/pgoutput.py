"""Decoder of PostgreSQL's ``pgoutput`` logical replication protocol, version 1.

Each replication message payload (the part after the XLogData header, which
psycopg2 strips) is one of: Begin, Commit, Origin, Relation, Type, Insert,
Update, Delete, Truncate, Message. Reference: PostgreSQL docs, "Logical
Replication Message Formats". Column values arrive in text format (protocol 1
without the ``binary`` option): ``bytes`` here, ``None`` for SQL NULL and
``UNCHANGED`` for an unchanged TOASTed value that the server did not resend.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

import msgspec

# Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
PG_EPOCH_OFFSET_US: Final = 946_684_800_000_000


class ProtocolError(ValueError):
    """A message this decoder does not understand (corrupt or unknown type)."""


class Unchanged:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged()

ColumnValue = bytes | None | Unchanged


class Column(msgspec.Struct, frozen=True, gc=False):
    name: str
    type_oid: int
    type_modifier: int
    is_key: bool


class Begin(msgspec.Struct, frozen=True, gc=False):
    final_lsn: int
    commit_ts_us: int  # Unix epoch microseconds
    xid: int


class Commit(msgspec.Struct, frozen=True, gc=False):
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


class Origin(msgspec.Struct, frozen=True, gc=False):
    lsn: int
    name: str


class Relation(msgspec.Struct, frozen=True, gc=False):
    oid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]


class TypeInfo(msgspec.Struct, frozen=True, gc=False):
    oid: int
    namespace: str
    name: str


class Insert(msgspec.Struct, frozen=True, gc=False):
    relation_oid: int
    new: list[ColumnValue]


class Update(msgspec.Struct, frozen=True, gc=False):
    relation_oid: int
    old: list[ColumnValue] | None  # whole old row ('O', REPLICA IDENTITY FULL)
    key: list[ColumnValue] | None  # old key columns only ('K')
    new: list[ColumnValue]


class Delete(msgspec.Struct, frozen=True, gc=False):
    relation_oid: int
    old: list[ColumnValue] | None
    key: list[ColumnValue] | None


class Truncate(msgspec.Struct, frozen=True, gc=False):
    options: int  # bit 1: CASCADE, bit 2: RESTART IDENTITY
    relation_oids: tuple[int, ...]


class LogicalMessage(msgspec.Struct, frozen=True, gc=False):
    transactional: bool
    lsn: int
    prefix: str
    content: bytes


Message = (
    Begin
    | Commit
    | Origin
    | Relation
    | TypeInfo
    | Insert
    | Update
    | Delete
    | Truncate
    | LogicalMessage
)

_I8 = struct.Struct("!b")
_BEGIN = struct.Struct("!qqI")
_COMMIT = struct.Struct("!bqqq")
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_I64 = struct.Struct("!q")


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise ProtocolError("unterminated string")
    return data[pos:end].decode(), end + 1


def _tuple(data: bytes, pos: int) -> tuple[list[ColumnValue], int]:
    (count,) = _I16.unpack_from(data, pos)
    pos += 2
    values: list[ColumnValue] = []
    append = values.append
    from_bytes = int.from_bytes
    for _ in range(count):
        kind = data[pos]
        if kind == 0x74:  # 't' text
            length = from_bytes(data[pos + 1 : pos + 5], "big")
            start = pos + 5
            pos = start + length
            append(data[start:pos])
        elif kind == 0x6E:  # 'n' null
            append(None)
            pos += 1
        elif kind == 0x75:  # 'u' unchanged toast
            append(UNCHANGED)
            pos += 1
        elif kind == 0x62:  # 'b' binary: never requested by this connector
            raise ProtocolError("binary column values were not requested")
        else:
            raise ProtocolError(f"unknown tuple column kind {kind!r}")
    if pos > len(data):
        raise ProtocolError("tuple data truncated")
    return values, pos


def decode(data: bytes) -> Message:
    """Decode one pgoutput message; raise ProtocolError on anything malformed."""
    try:
        return _decode(data)
    except ProtocolError:
        raise
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed {data[:1]!r} message: {exc}") from exc


def _insert(data: bytes) -> Insert:
    (oid,) = _U32.unpack_from(data, 1)
    if data[5] != 0x4E:
        raise ProtocolError("insert without new tuple")
    new, _ = _tuple(data, 6)
    return Insert(oid, new)


def _begin(data: bytes) -> Begin:
    final_lsn, ts, xid = _BEGIN.unpack_from(data, 1)
    return Begin(final_lsn, ts + PG_EPOCH_OFFSET_US, xid)


def _commit(data: bytes) -> Commit:
    flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(data, 1)
    return Commit(flags, commit_lsn, end_lsn, ts + PG_EPOCH_OFFSET_US)


def _update(data: bytes) -> Update:
    (oid,) = _U32.unpack_from(data, 1)
    pos = 5
    old = key = None
    marker = data[pos]
    if marker == 0x4F:  # 'O'
        old, pos = _tuple(data, pos + 1)
    elif marker == 0x4B:  # 'K'
        key, pos = _tuple(data, pos + 1)
    if data[pos] != 0x4E:
        raise ProtocolError("update without new tuple")
    new, _ = _tuple(data, pos + 1)
    return Update(oid, old, key, new)


def _delete(data: bytes) -> Delete:
    (oid,) = _U32.unpack_from(data, 1)
    marker = data[5]
    tup, _ = _tuple(data, 6)
    if marker == 0x4F:
        return Delete(oid, tup, None)
    if marker == 0x4B:
        return Delete(oid, None, tup)
    raise ProtocolError(f"delete with unknown tuple marker {marker!r}")


def _relation(data: bytes) -> Relation:
    (oid,) = _U32.unpack_from(data, 1)
    namespace, pos = _cstring(data, 5)
    name, pos = _cstring(data, pos)
    identity = chr(data[pos])
    (ncols,) = _I16.unpack_from(data, pos + 1)
    pos += 3
    columns = []
    for _ in range(ncols):
        flags = data[pos]
        col_name, pos = _cstring(data, pos + 1)
        type_oid, typmod = struct.unpack_from("!Ii", data, pos)
        pos += 8
        columns.append(Column(col_name, type_oid, typmod, bool(flags & 1)))
    return Relation(oid, namespace or "public", name, identity, tuple(columns))


def _truncate(data: bytes) -> Truncate:
    (count,) = _I32.unpack_from(data, 1)
    options = data[5]
    oids = struct.unpack_from(f"!{count}I", data, 6)
    return Truncate(options, tuple(oids))


def _origin(data: bytes) -> Origin:
    (lsn,) = _I64.unpack_from(data, 1)
    name, _ = _cstring(data, 9)
    return Origin(lsn, name)


def _type(data: bytes) -> TypeInfo:
    (oid,) = _U32.unpack_from(data, 1)
    namespace, pos = _cstring(data, 5)
    name, _ = _cstring(data, pos)
    return TypeInfo(oid, namespace, name)


def _message(data: bytes) -> LogicalMessage:
    flags = data[1]
    (lsn,) = _I64.unpack_from(data, 2)
    prefix, pos = _cstring(data, 10)
    (length,) = _I32.unpack_from(data, pos)
    return LogicalMessage(bool(flags & 1), lsn, prefix, bytes(data[pos + 4 : pos + 4 + length]))


# The message type byte -> its decoder ('I', 'B', 'C', 'U', 'D', 'R', 'T', 'O', 'Y', 'M').
_DECODERS: dict[int, Callable[[bytes], Message]] = {
    0x49: _insert,
    0x42: _begin,
    0x43: _commit,
    0x55: _update,
    0x44: _delete,
    0x52: _relation,
    0x54: _truncate,
    0x4F: _origin,
    0x59: _type,
    0x4D: _message,
}


def _decode(data: bytes) -> Message:
    decoder = _DECODERS.get(data[0])
    if decoder is None:
        raise ProtocolError(f"unknown pgoutput message type {data[:1]!r}")
    return decoder(data)


def format_lsn(lsn: int) -> str:
    """The ``X/Y`` text form PostgreSQL uses for an LSN."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)
