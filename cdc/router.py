"""Where each captured row goes: CDC topics, the outbox router, the dead-letter topic.

The rule for rows that do not fit (also in cdc/README.md):

* Encoded as they are: any row of a captured table whose values all parse,
  including columns a migration added (they appear in ``before``/``after``).
* Dead-lettered to ``cdc.dlq`` (raw text of the row, LSN, reason), logged with
  the LSN, counted in ``cdc_errors_total``, and the stream goes on:
  - a value that does not parse as its column type, or a tuple whose column
    count differs from its relation;
  - an ``events`` row without ``stream_id`` or with a ``stream_type`` other than
    ``account`` / ``transfer``;
  - a table in the publication this connector does not know;
  - an outbox row (insert or snapshot) that cannot be routed: unknown ``topic``,
    empty ``key``, ``payload`` not a valid ``shared.events.RecordedEvent``,
    ``headers`` not an object. Its ``cdc.outbox`` change record is still emitted.
* Updates and deletes of outbox rows go to ``cdc.outbox`` only; like Debezium's
  outbox event router, only inserts (and snapshot reads) are routed.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from cdc.envelope import TableShape, UnconvertibleValueError, encode_change, now_ms
from cdc.pgoutput import ColumnValue, decode, format_lsn
from shared import topics as t
from shared.events import STREAM_TYPE_ACCOUNT, STREAM_TYPE_TRANSFER, recorded_event_decoder

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


class OutRecord(msgspec.Struct, gc=False):
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


class Change(msgspec.Struct, gc=False, kw_only=True):
    """One row change (or a snapshot read) with where it came from."""

    shape: TableShape
    op: str  # c u d r
    before: list[ColumnValue] | None
    after: list[ColumnValue] | None
    lsn: int | None
    tx_id: int | None
    commit_ts_ms: int
    snapshot: str = "false"
    # The pgoutput message, when before/after were converted straight from it
    # (hot path) and are None here; dead letters decode it for the raw text.
    raw_message: bytes | None = None


class DeadLetter(msgspec.Struct, kw_only=True):
    reason: str
    error: str
    lsn: int | None
    lsn_text: str | None
    txId: int | None
    schema: str
    table: str
    op: str
    before: dict[str, str | None] | None
    after: dict[str, str | None] | None
    ts_ms: int


_dlq_encoder = msgspec.json.Encoder()
_headers_decoder = msgspec.json.Decoder(dict[str, Any])

_CDC_TOPIC_BY_STREAM_TYPE = {
    STREAM_TYPE_ACCOUNT: t.CDC_ACCOUNTS,
    STREAM_TYPE_TRANSFER: t.CDC_TRANSACTIONS,
}


class Router:
    def __init__(self, server_name: str, db: str) -> None:
        self.server_name = server_name
        self.db = db
        self.dead_letters = 0

    def route(self, change: Change) -> list[OutRecord]:
        shape = change.shape
        try:
            before = shape.row(change.before)
            after = shape.row(change.after)
        except UnconvertibleValueError as exc:
            return [self._dead(change, "unconvertible-value", str(exc))]
        return self.route_rows(change, before, after)

    def route_rows(
        self, change: Change, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> list[OutRecord]:
        """Route a change whose rows are already converted to typed dicts."""
        shape = change.shape
        row = after if after is not None else before
        assert row is not None
        table = shape.table
        if table == "events":
            topic = _CDC_TOPIC_BY_STREAM_TYPE.get(row.get("stream_type"))  # type: ignore[arg-type]
            stream_id = row.get("stream_id")
            if topic is None or not stream_id:
                reason = "unknown-stream-type" if stream_id else "missing-stream-id"
                return [self._dead(change, reason, f"stream_type={row.get('stream_type')!r}")]
            return [
                OutRecord(topic, str(stream_id).encode(), self._envelope(change, before, after), [])
            ]
        if table == "outbox":
            key = row.get("aggregate_id") or row.get("key")
            out = [
                OutRecord(
                    t.CDC_OUTBOX,
                    str(key).encode() if key else None,
                    self._envelope(change, before, after),
                    [],
                )
            ]
            if change.op in ("c", "r") and after is not None:
                out.append(self._route_outbox(change, after))
            return out
        if table == "audit_log":
            key = row.get("id") or row.get("event_id")
            return [
                OutRecord(
                    t.CDC_AUDIT,
                    str(key).encode() if key is not None else None,
                    self._envelope(change, before, after),
                    [],
                )
            ]
        return [self._dead(change, "unknown-table", f"{shape.schema}.{table} is not captured")]

    def truncate(
        self, shape: TableShape, lsn: int, tx_id: int | None, commit_ts_ms: int
    ) -> OutRecord:
        topic = {
            "events": t.CDC_ACCOUNTS,
            "outbox": t.CDC_OUTBOX,
            "audit_log": t.CDC_AUDIT,
        }.get(shape.table, t.CDC_DLQ)
        value = encode_change(
            op="t",
            before=None,
            after=None,
            server_name=self.server_name,
            db=self.db,
            schema=shape.schema,
            table=shape.table,
            commit_ts_ms=commit_ts_ms,
            tx_id=tx_id,
            lsn=lsn,
        )
        log.warning("TRUNCATE of %s at %s", shape.table, format_lsn(lsn))
        return OutRecord(topic, None, value, [])

    def _envelope(
        self, change: Change, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> bytes:
        return encode_change(
            op=change.op,
            before=before,
            after=after,
            server_name=self.server_name,
            db=self.db,
            schema=change.shape.schema,
            table=change.shape.table,
            commit_ts_ms=change.commit_ts_ms,
            tx_id=change.tx_id,
            lsn=change.lsn,
            snapshot=change.snapshot,
        )

    def _route_outbox(self, change: Change, row: dict[str, Any]) -> OutRecord:
        topic = row.get("topic")
        key = row.get("key")
        payload = row.get("payload")
        if topic not in t.DOMAIN_TOPICS:
            return self._dead(change, "unknown-outbox-topic", f"topic={topic!r}")
        if not key:
            return self._dead(change, "missing-outbox-key", "key is empty")
        if not isinstance(payload, msgspec.Raw):
            return self._dead(change, "bad-outbox-payload", "payload is not JSON")
        value = bytes(payload)
        try:
            recorded_event_decoder.decode(value)
        except msgspec.ValidationError as exc:
            return self._dead(change, "bad-outbox-payload", str(exc))
        except msgspec.DecodeError as exc:
            return self._dead(change, "bad-outbox-payload", str(exc))
        headers: Headers = []
        raw_headers = row.get("headers")
        if raw_headers is not None:
            try:
                decoded = _headers_decoder.decode(bytes(raw_headers))
            except (msgspec.DecodeError, TypeError) as exc:
                return self._dead(change, "bad-outbox-headers", str(exc))
            for name, val in decoded.items():
                if val is None:
                    continue
                headers.append(
                    (name, val.encode() if isinstance(val, str) else _dlq_encoder.encode(val))
                )
        return OutRecord(str(topic), str(key).encode(), value, headers)

    def _dead(self, change: Change, reason: str, error: str) -> OutRecord:
        self.dead_letters += 1
        shape = change.shape
        if change.raw_message is not None and change.before is None and change.after is None:
            msg = decode(change.raw_message)
            change = Change(
                shape=shape,
                op=change.op,
                before=getattr(msg, "old", None) or getattr(msg, "key", None),
                after=getattr(msg, "new", None),
                lsn=change.lsn,
                tx_id=change.tx_id,
                commit_ts_ms=change.commit_ts_ms,
                snapshot=change.snapshot,
            )
        lsn_text = format_lsn(change.lsn) if change.lsn is not None else None
        log.error(
            "dead letter: %s at LSN %s (txid %s) in %s.%s: %s",
            reason,
            lsn_text,
            change.tx_id,
            shape.schema,
            shape.table,
            error,
        )
        letter = DeadLetter(
            reason=reason,
            error=error,
            lsn=change.lsn,
            lsn_text=lsn_text,
            txId=change.tx_id,
            schema=shape.schema,
            table=shape.table,
            op=change.op,
            before=shape.text_row(change.before) if change.before is not None else None,
            after=shape.text_row(change.after) if change.after is not None else None,
            ts_ms=now_ms(),
        )
        headers = [("dlq.reason", reason.encode()), ("source.table", shape.table.encode())]
        if lsn_text:
            headers.append(("source.lsn", lsn_text.encode()))
        return OutRecord(t.CDC_DLQ, shape.table.encode(), _dlq_encoder.encode(letter), headers)
