"""Envelopes and routing: what a row becomes on Kafka, and which rows are dead letters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from cdc.envelope import ChangeEnvelope, TableShape, envelope_decoder
from cdc.pgoutput import UNCHANGED, Column
from cdc.router import Change, DeadLetter, Router
from shared.events import EventMetadata, MoneyDeposited, RecordedEvent, recorded_event_decoder

EVENTS = TableShape(
    1,
    "public",
    "events",
    tuple(
        Column(n, oid, -1, n == "global_position")
        for n, oid in [
            ("global_position", 20),
            ("event_id", 2950),
            ("stream_id", 2950),
            ("stream_type", 25),
            ("version", 23),
            ("event_type", 25),
            ("payload", 3802),
            ("metadata", 3802),
            ("recorded_at", 1184),
        ]
    ),
)
OUTBOX = TableShape(
    2,
    "public",
    "outbox",
    tuple(
        Column(n, oid, -1, n == "id")
        for n, oid in [
            ("id", 20),
            ("event_id", 2950),
            ("aggregate_type", 25),
            ("aggregate_id", 2950),
            ("topic", 25),
            ("key", 25),
            ("event_type", 25),
            ("payload", 3802),
            ("headers", 3802),
            ("created_at", 1184),
        ]
    ),
)
AUDIT = TableShape(
    3,
    "public",
    "audit_log",
    tuple(
        Column(n, oid, -1, n == "id")
        for n, oid in [
            ("id", 20),
            ("occurred_at", 1184),
            ("actor_id", 2950),
            ("actor_role", 25),
            ("session_id", 25),
            ("action", 25),
            ("target_type", 25),
            ("target_id", 25),
            ("account_id", 2950),
            ("outcome", 25),
            ("reason_code", 25),
            ("client_ip", 25),
            ("user_agent", 25),
            ("trace_id", 25),
            ("details", 3802),
        ]
    ),
)
ACCOUNT = uuid.uuid4()
router = Router(server_name="bank", db="bank")


def event_row(stream_type: bytes = b"account", version: int = 3) -> list[bytes | None]:
    return [
        b"17",
        str(uuid.uuid4()).encode(),
        str(ACCOUNT).encode(),
        stream_type,
        str(version).encode(),
        b"MoneyDeposited",
        b'{"type": "MoneyDeposited", "amount": 500}',
        b'{"trace_id": "t-1"}',
        b"2026-11-25 15:50:34.560778+00",
    ]


def recorded(version: int = 3) -> RecordedEvent:
    return RecordedEvent(
        event_id=uuid.uuid4(),
        stream_id=ACCOUNT,
        stream_type="account",
        version=version,
        position=17,
        recorded_at=datetime(2026, 11, 25, tzinfo=UTC),
        metadata=EventMetadata(trace_id="t-1"),
        event=MoneyDeposited(
            account_id=ACCOUNT,
            transaction_id=uuid.uuid4(),
            amount=500,
            currency="EUR",
            balance_after=1500,
        ),
    )


def outbox_row(
    topic: bytes = b"account-events", payload: bytes | None = None, key: bytes | None = None
) -> list[bytes | None]:
    rec = recorded()
    payload = payload if payload is not None else msgspec.json.encode(rec)
    headers = msgspec.json.encode(
        {
            "event_id": str(rec.event_id),
            "event_type": "MoneyDeposited",
            "version": "3",
            "trace_id": "t-1",
        }
    )
    return [
        b"5",
        str(rec.event_id).encode(),
        b"account",
        str(ACCOUNT).encode(),
        topic,
        key if key is not None else str(ACCOUNT).encode(),
        b"MoneyDeposited",
        payload,
        headers,
        b"2026-11-25 15:50:34.5+00",
    ]


def recorded_row(rec: RecordedEvent | None = None) -> list[bytes | None]:
    """The events row the write side stores for ``rec`` (as pgoutput text)."""
    rec = rec or recorded()
    return [
        str(rec.position).encode(),
        str(rec.event_id).encode(),
        str(rec.stream_id).encode(),
        rec.stream_type.encode(),
        str(rec.version).encode(),
        type(rec.event).__name__.encode(),
        msgspec.json.encode(rec.event),
        msgspec.json.encode(rec.metadata),
        rec.recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f+00").encode(),
    ]


def change(shape: TableShape, op: str, after: list | None, before: list | None = None) -> Change:
    return Change(
        shape=shape,
        op=op,
        before=before,
        after=after,
        lsn=0x1BA33A0,
        tx_id=770,
        commit_ts_ms=1_795_621_834_561,
    )


def test_an_account_event_becomes_a_debezium_create_on_cdc_accounts() -> None:
    rec, _domain = router.route(change(EVENTS, "c", event_row()))
    assert rec.topic == "cdc.accounts"
    assert rec.key == str(ACCOUNT).encode()
    env = envelope_decoder.decode(rec.value)
    assert env.op == "c" and env.before is None
    assert env.after is not None
    assert env.after["global_position"] == 17 and env.after["version"] == 3
    assert env.after["payload"] == {"type": "MoneyDeposited", "amount": 500}
    assert env.after["recorded_at"] == "2026-11-25T15:50:34.560778Z"
    assert env.source.connector == "bank-cdc"
    assert (env.source.lsn, env.source.txId, env.source.table, env.source.schema) == (
        0x1BA33A0,
        770,
        "events",
        "public",
    )
    assert env.source.snapshot == "false" and env.source.db == "bank"
    assert env.source.ts_ms == 1_795_621_834_561 and env.ts_ms >= env.source.ts_ms
    raw = msgspec.json.decode(rec.value)
    assert set(raw) == {"before", "after", "source", "op", "ts_ms", "transaction"}


def test_a_transfer_event_goes_to_cdc_transactions_and_transaction_events() -> None:
    records = router.route(change(EVENTS, "c", event_row(b"transfer")))
    assert [r.topic for r in records] == ["cdc.transactions", "transaction-events"]


def test_updates_and_deletes_carry_before_and_after() -> None:
    old, new = event_row(), event_row()
    new[5] = b"Changed"
    [upd] = router.route(change(EVENTS, "u", new, before=old))
    env = envelope_decoder.decode(upd.value)
    assert env.op == "u" and env.before["event_type"] == "MoneyDeposited"  # type: ignore[index]
    assert env.after["event_type"] == "Changed"  # type: ignore[index]
    [dele] = router.route(change(EVENTS, "d", None, before=old))
    env = envelope_decoder.decode(dele.value)
    assert env.op == "d" and env.after is None and env.before is not None


def test_unchanged_toast_values_are_left_out_and_nulls_kept() -> None:
    row = event_row()
    row[6] = UNCHANGED  # type: ignore[call-overload]
    row[7] = None
    [upd] = router.route(change(EVENTS, "u", row, before=None))
    env = envelope_decoder.decode(upd.value)
    assert "payload" not in env.after and env.after["metadata"] is None  # type: ignore[operator,index]


def test_an_event_goes_to_its_change_topic_and_its_domain_topic_and_nowhere_else() -> None:
    want = recorded()
    row = recorded_row(want)
    records = router.route(change(EVENTS, "c", row))
    assert [r.topic for r in records] == ["cdc.accounts", "account-events"]  # 2 sends, not 3
    domain = records[1]
    assert domain.key == str(ACCOUNT).encode()
    event = recorded_event_decoder.decode(domain.value)
    assert event.event_id == uuid.UUID(row[1].decode())  # type: ignore[union-attr]
    assert (event.stream_id, event.stream_type, event.version, event.position) == (
        ACCOUNT,
        "account",
        3,
        17,
    )
    assert event.recorded_at == want.recorded_at
    assert event.metadata == want.metadata and event.event == want.event
    assert dict(domain.headers) == {
        "event_id": row[1],
        "event_type": b"MoneyDeposited",
        "version": b"3",
        "trace_id": b"t-1",
    }


def test_the_domain_record_is_the_one_the_outbox_carried() -> None:
    """The same RecordedEvent the write side put in the outbox (contract "Events")."""
    want = recorded()
    row = recorded_row(want)
    [_, domain] = router.route(change(EVENTS, "c", row))
    assert recorded_event_decoder.decode(domain.value) == want


def test_an_event_without_a_trace_has_no_trace_header() -> None:
    row = recorded_row()
    row[7] = b"{}"
    [_, domain] = router.route(change(EVENTS, "c", row))
    assert "trace_id" not in dict(domain.headers)


def test_snapshot_reads_are_routed_too_but_updates_are_not() -> None:
    assert len(router.route(change(EVENTS, "r", recorded_row()))) == 2
    assert [
        r.topic for r in router.route(change(EVENTS, "u", recorded_row(), before=recorded_row()))
    ] == ["cdc.accounts"]


def test_a_leftover_outbox_change_is_not_sent_again() -> None:
    """Its events row carries the fact; the outbox is retired (migration 0004)."""
    assert router.route(change(OUTBOX, "c", outbox_row())) == []


def audit_row(actor: uuid.UUID | None, account: uuid.UUID | None) -> list[bytes | None]:
    return [
        b"41",
        b"2026-11-25 15:50:34.5+00",
        str(actor).encode() if actor else None,
        b"customer" if actor else None,
        None,
        b"deposit_money",
        b"account",
        str(account).encode() if account else None,
        str(account).encode() if account else None,
        b"accepted",
        None,
        b"127.0.0.1",
        b"pytest",
        b"t-9",
        b'{"amount": 500}',
    ]


def test_an_audit_row_goes_to_cdc_audit_and_as_the_plain_row_to_audit_events() -> None:
    actor = uuid.uuid4()
    cdc_rec, trail = router.route(change(AUDIT, "c", audit_row(actor, ACCOUNT)))
    assert cdc_rec.topic == "cdc.audit" and cdc_rec.key == b"41"
    assert trail.topic == "audit-events" and trail.key == str(actor).encode()
    record = msgspec.json.decode(trail.value)
    assert record == envelope_decoder.decode(cdc_rec.value).after  # without the envelope
    assert record["action"] == "deposit_money" and record["details"] == {"amount": 500}
    assert record["occurred_at"] == "2026-11-25T15:50:34.5Z" and record["id"] == 41
    assert dict(trail.headers) == {
        "action": b"deposit_money",
        "outcome": b"accepted",
        "trace_id": b"t-9",
    }


def test_an_audit_row_without_an_actor_is_keyed_by_its_account_else_by_its_id() -> None:
    [_, trail] = router.route(change(AUDIT, "c", audit_row(None, ACCOUNT)))
    assert trail.key == str(ACCOUNT).encode()
    [_, trail] = router.route(change(AUDIT, "c", audit_row(None, None)))
    assert trail.key == b"41"


def test_a_column_added_by_a_migration_is_encoded() -> None:
    wider = TableShape(1, "public", "events", EVENTS.columns + (Column("tenant", 25, -1, False),))
    rec, domain = router.route(change(wider, "c", event_row() + [b"acme"]))
    assert rec.topic == "cdc.accounts" and domain.topic == "account-events"
    assert envelope_decoder.decode(rec.value).after["tenant"] == "acme"  # type: ignore[index]


def dead(records: list) -> DeadLetter:
    [rec] = [r for r in records if r.topic == "cdc.dlq"]
    assert dict(rec.headers)["source.lsn"] == b"0/1BA33A0"
    return msgspec.json.decode(rec.value, type=DeadLetter)


def test_unknown_stream_type_unparseable_value_and_unknown_table_are_dead_letters() -> None:
    assert (
        dead(router.route(change(EVENTS, "c", event_row(b"loan")))).reason == "unknown-stream-type"
    )
    bad = event_row()
    bad[4] = b"three"
    assert dead(router.route(change(EVENTS, "c", bad))).reason == "unconvertible-value"
    short = event_row()[:5]
    assert dead(router.route(change(EVENTS, "c", short))).reason == "unconvertible-value"
    other = TableShape(9, "public", "users", (Column("id", 2950, -1, True),))
    assert dead(router.route(change(other, "c", [b"x"]))).reason == "unknown-table"


def test_truncate_is_an_op_t_record() -> None:
    rec = router.truncate(EVENTS, 0x10, 5, 1000)
    env = msgspec.json.decode(rec.value, type=ChangeEnvelope)
    assert (
        env.op == "t" and env.before is None and env.after is None and rec.topic == "cdc.accounts"
    )


def insert_message(oid: int, values: list) -> bytes:
    import struct

    out = b"I" + struct.pack("!I", oid) + b"N" + struct.pack("!h", len(values))
    for v in values:
        out += b"n" if v is None else b"t" + struct.pack("!i", len(v)) + v
    return out


def test_the_one_pass_parser_agrees_with_the_decoder() -> None:
    from cdc.pgoutput import decode

    for shape, row in (
        (EVENTS, event_row()),
        (OUTBOX, outbox_row()),
        (AUDIT, audit_row(None, None)),
    ):
        row[2] = None
        msg = insert_message(shape.oid, row)
        assert shape.parse_tuple(msg, 6) == shape.row(decode(msg).new)  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        EVENTS.parse_tuple(insert_message(1, event_row()[:4]), 6)


def test_a_hot_path_dead_letter_still_carries_the_raw_row() -> None:
    row = event_row(b"loan")
    msg = insert_message(1, row)
    hot = Change(
        shape=EVENTS,
        op="c",
        before=None,
        after=None,
        lsn=0x1BA33A0,
        tx_id=1,
        commit_ts_ms=1,
        raw_message=msg,
    )
    letter = dead(router.route_rows(hot, None, EVENTS.parse_tuple(msg, 6)))
    assert letter.reason == "unknown-stream-type"
    assert letter.after is not None and letter.after["stream_type"] == "loan"
