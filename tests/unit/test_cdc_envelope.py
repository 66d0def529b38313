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
        b"{}",
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
    [rec] = router.route(change(EVENTS, "c", event_row()))
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


def test_a_transfer_event_goes_to_cdc_transactions() -> None:
    [rec] = router.route(change(EVENTS, "c", event_row(b"transfer")))
    assert rec.topic == "cdc.transactions"


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
    env = envelope_decoder.decode(router.route(change(EVENTS, "u", row, before=None))[0].value)
    assert "payload" not in env.after and env.after["metadata"] is None  # type: ignore[operator,index]


def test_an_outbox_insert_is_routed_to_its_domain_topic_with_key_value_and_headers() -> None:
    row = outbox_row()
    cdc_rec, domain = router.route(change(OUTBOX, "c", row))
    assert cdc_rec.topic == "cdc.outbox"
    assert domain.topic == "account-events"
    assert domain.key == str(ACCOUNT).encode()
    assert domain.value == row[7]  # the payload bytes, as they are
    event = recorded_event_decoder.decode(domain.value)
    assert event.version == 3 and isinstance(event.event, MoneyDeposited)
    headers = dict(domain.headers)
    assert headers["event_type"] == b"MoneyDeposited"
    assert headers["version"] == b"3" and headers["trace_id"] == b"t-1"
    assert headers["event_id"] == row[1]


def test_snapshot_reads_are_routed_too_but_outbox_updates_are_not() -> None:
    assert len(router.route(change(OUTBOX, "r", outbox_row()))) == 2
    assert [
        r.topic for r in router.route(change(OUTBOX, "u", outbox_row(), before=outbox_row()))
    ] == ["cdc.outbox"]


def test_a_column_added_by_a_migration_is_encoded() -> None:
    wider = TableShape(1, "public", "events", EVENTS.columns + (Column("tenant", 25, -1, False),))
    [rec] = router.route(change(wider, "c", event_row() + [b"acme"]))
    assert rec.topic == "cdc.accounts"
    assert envelope_decoder.decode(rec.value).after["tenant"] == "acme"  # type: ignore[index]


def dead(records: list) -> DeadLetter:
    [rec] = [r for r in records if r.topic == "cdc.dlq"]
    assert dict(rec.headers)["source.lsn"] == b"0/1BA33A0"
    return msgspec.json.decode(rec.value, type=DeadLetter)


@pytest.mark.parametrize(
    "row, reason",
    [
        (outbox_row(topic=b"no-such-topic"), "unknown-outbox-topic"),
        (outbox_row(payload=b'{"not": "a recorded event"}'), "bad-outbox-payload"),
        (outbox_row(key=b""), "missing-outbox-key"),
    ],
)
def test_an_outbox_row_that_cannot_be_routed_is_a_dead_letter(row: list, reason: str) -> None:
    records = router.route(change(OUTBOX, "c", row))
    assert records[0].topic == "cdc.outbox"  # the change itself is still captured
    letter = dead(records)
    assert letter.reason == reason and letter.lsn == 0x1BA33A0 and letter.table == "outbox"
    assert letter.after is not None and letter.after["topic"] == row[4].decode()


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

    for shape, row in ((EVENTS, event_row()), (OUTBOX, outbox_row())):
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
