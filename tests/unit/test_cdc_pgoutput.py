"""The pgoutput decoder against messages built byte by byte from the protocol docs."""

from __future__ import annotations

import struct

import pytest

from cdc.pgoutput import (
    PG_EPOCH_OFFSET_US,
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    ProtocolError,
    Relation,
    Truncate,
    TypeInfo,
    Update,
    decode,
    format_lsn,
    parse_lsn,
)


def cstr(s: str) -> bytes:
    return s.encode() + b"\x00"


def tup(*values: bytes | None | str) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v == "u":
            out += b"u"
        else:
            assert isinstance(v, bytes)
            out += b"t" + struct.pack("!i", len(v)) + v
    return out


def test_begin_carries_lsn_commit_time_and_xid() -> None:
    msg = decode(b"B" + struct.pack("!qqI", 0x16B3748, 1_000_000, 771))
    assert msg == Begin(final_lsn=0x16B3748, commit_ts_us=1_000_000 + PG_EPOCH_OFFSET_US, xid=771)


def test_commit_carries_end_lsn() -> None:
    msg = decode(b"C" + struct.pack("!bqqq", 0, 100, 148, 5))
    assert msg == Commit(flags=0, commit_lsn=100, end_lsn=148, commit_ts_us=5 + PG_EPOCH_OFFSET_US)


def test_relation_lists_columns_with_types_and_key_flags() -> None:
    body = struct.pack("!I", 16397) + cstr("public") + cstr("events") + b"f" + struct.pack("!h", 2)
    body += b"\x01" + cstr("global_position") + struct.pack("!Ii", 20, -1)
    body += b"\x00" + cstr("payload") + struct.pack("!Ii", 3802, -1)
    msg = decode(b"R" + body)
    assert isinstance(msg, Relation)
    assert (msg.oid, msg.namespace, msg.name, msg.replica_identity) == (
        16397,
        "public",
        "events",
        "f",
    )
    assert [(c.name, c.type_oid, c.is_key) for c in msg.columns] == [
        ("global_position", 20, True),
        ("payload", 3802, False),
    ]


def test_empty_namespace_means_pg_catalog_default_public() -> None:
    body = struct.pack("!I", 1) + cstr("") + cstr("t") + b"d" + struct.pack("!h", 0)
    assert decode(b"R" + body).namespace == "public"  # type: ignore[union-attr]


def test_insert_with_text_null_and_unchanged_values() -> None:
    msg = decode(b"I" + struct.pack("!I", 7) + b"N" + tup(b"42", None, "u", b""))
    assert msg == Insert(relation_oid=7, new=[b"42", None, UNCHANGED, b""])


def test_update_with_old_row_and_with_key_only() -> None:
    full = decode(b"U" + struct.pack("!I", 7) + b"O" + tup(b"1", b"a") + b"N" + tup(b"1", b"b"))
    assert full == Update(relation_oid=7, old=[b"1", b"a"], key=None, new=[b"1", b"b"])
    keyed = decode(b"U" + struct.pack("!I", 7) + b"K" + tup(b"1") + b"N" + tup(b"2", b"b"))
    assert keyed == Update(relation_oid=7, old=None, key=[b"1"], new=[b"2", b"b"])
    plain = decode(b"U" + struct.pack("!I", 7) + b"N" + tup(b"1", b"c"))
    assert plain == Update(relation_oid=7, old=None, key=None, new=[b"1", b"c"])


def test_delete_old_row_or_key() -> None:
    assert decode(b"D" + struct.pack("!I", 7) + b"O" + tup(b"1", b"a")) == Delete(
        7, [b"1", b"a"], None
    )
    assert decode(b"D" + struct.pack("!I", 7) + b"K" + tup(b"1")) == Delete(7, None, [b"1"])


def test_truncate_lists_relations() -> None:
    msg = decode(b"T" + struct.pack("!ib", 2, 1) + struct.pack("!II", 10, 11))
    assert msg == Truncate(options=1, relation_oids=(10, 11))


def test_origin_type_and_logical_message() -> None:
    assert decode(b"O" + struct.pack("!q", 9) + cstr("node1")) == Origin(9, "node1")
    assert decode(b"Y" + struct.pack("!I", 5) + cstr("public") + cstr("mood")) == TypeInfo(
        5, "public", "mood"
    )
    m = decode(b"M" + b"\x01" + struct.pack("!q", 3) + cstr("p") + struct.pack("!i", 2) + b"hi")
    assert m == LogicalMessage(True, 3, "p", b"hi")


@pytest.mark.parametrize(
    "data",
    [
        b"Z\x00\x00",  # unknown type
        b"I" + struct.pack("!I", 7) + b"N" + struct.pack("!h", 1) + b"x",  # unknown column kind
        b"I"
        + struct.pack("!I", 7)
        + b"N"
        + struct.pack("!h", 1)
        + b"t"
        + struct.pack("!i", 10)
        + b"ab",
        b"B\x00\x01",  # truncated
        b"R" + struct.pack("!I", 1) + b"public",  # unterminated string
        b"I" + struct.pack("!I", 7) + b"X",  # insert without N
    ],
)
def test_malformed_messages_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(data)


def test_lsn_text_round_trip() -> None:
    assert format_lsn(0x1_0000_00A0) == "1/A0"
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn(format_lsn(123456789012)) == 123456789012
