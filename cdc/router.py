"""Where each captured row goes: change topics, domain topics, the dead-letter topic.

Each fact is one row (the "Events" contract, cdc/README.md): an ``events``
insert (or snapshot read) is sent twice, as its change envelope to
``cdc.accounts`` / ``cdc.transactions`` and as its ``RecordedEvent`` to the
domain topic of its stream type (``shared.topics.topic_for_stream_type``); an
``audit_log`` row likewise to ``cdc.audit`` and, as the plain row, to
``audit-events``. The ``outbox`` table is retired (migration 0004 drops it): it
is no longer in the publication, and a change of it still in the WAL from
before is skipped, since its events row carries the same fact.

The rule for rows that do not fit (also in cdc/README.md):

* Encoded as they are: any row of a captured table whose values all parse,
  including columns a migration added (they appear in ``before``/``after``).
* Dead-lettered to ``cdc.dlq`` (raw text of the row, LSN, reason), logged with
  the LSN, counted in ``cdc_errors_total``, and the stream goes on:
  - a value that does not parse as its column type, or a tuple whose column
    count differs from its relation;
  - an ``events`` row without ``stream_id`` or with a stream type that has no
    topic in ``shared/topics.py`` (never routed silently elsewhere);
  - a table in the publication this connector does not know.
* Updates and deletes (which the write side never makes) go to the change
  topics only; like Debezium's outbox event router, only inserts (and snapshot
  reads) reach the domain topics.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from cdc.envelope import TableShape, UnconvertibleValueError, encode_change, now_ms
from cdc.pgoutput import ColumnValue, decode, format_lsn
from cdc.tables import RETIRED_TABLES
from shared import topics as t

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


class DomainRecord(msgspec.Struct, gc=False):
    """``shared.events.RecordedEvent`` as JSON, built from the events row without
    decoding the payload (the write side made it from the same Struct)."""

    event_id: str
    stream_id: str
    stream_type: str
    version: int
    position: int
    recorded_at: str
    metadata: msgspec.Raw
    event: msgspec.Raw


class _Trace(msgspec.Struct):
    trace_id: str | None = None


_encoder = msgspec.json.Encoder()
_trace_decoder = msgspec.json.Decoder(_Trace)


class Router:
    def __init__(self, server_name: str, db: str) -> None:
        self.server_name = server_name
        self.db = db
        self.dead_letters = 0
        self._last_metadata: bytes = b""
        self._last_trace: list[tuple[str, bytes]] = []

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
        row = after if after is not None else before
        assert row is not None
        table = change.shape.table
        if table == "events":
            return self._event(change, before, after, row)
        if table == "audit_log":
            return self._audit(change, before, after, row)
        if table in RETIRED_TABLES:
            return []
        shape = change.shape
        return [self._dead(change, "unknown-table", f"{shape.schema}.{table} is not captured")]

    def _event(
        self,
        change: Change,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        row: dict[str, Any],
    ) -> list[OutRecord]:
        stream_type = row.get("stream_type")
        stream_id = row.get("stream_id")
        cdc_topic = t.CDC_TOPIC_BY_STREAM_TYPE.get(stream_type) if stream_type is not None else None
        if cdc_topic is None or stream_type not in t.TOPIC_BY_STREAM_TYPE or not stream_id:
            reason = "unknown-stream-type" if stream_id else "missing-stream-id"
            return [self._dead(change, reason, f"stream_type={stream_type!r}")]
        key = stream_id.encode()
        out = [OutRecord(cdc_topic, key, self._envelope(change, before, after), [])]
        if change.op in ("c", "r") and after is not None:
            out.append(self._domain(change, after, key))
        return out

    def _domain(self, change: Change, row: dict[str, Any], key: bytes) -> OutRecord:
        """The events row as its RecordedEvent on the domain topic of its stream type."""
        try:
            value = _encoder.encode(
                DomainRecord(
                    event_id=row["event_id"],
                    stream_id=row["stream_id"],
                    stream_type=row["stream_type"],
                    version=row["version"],
                    position=row["global_position"],
                    recorded_at=row["recorded_at"],
                    metadata=row["metadata"],
                    event=row["payload"],
                )
            )
        except (KeyError, TypeError) as exc:  # a column missing or NULL
            return self._dead(change, "incomplete-event", repr(exc))
        headers: Headers = [
            (t.EVENT_ID_HEADER, row["event_id"].encode()),
            (t.EVENT_TYPE_HEADER, str(row.get("event_type")).encode()),
            ("version", str(row["version"]).encode()),
        ]
        headers += self._trace_header(row["metadata"])
        return OutRecord(t.topic_for_stream_type(row["stream_type"]), key, value, headers)

    def _trace_header(self, metadata: msgspec.Raw) -> Headers:
        raw = bytes(metadata)
        if raw != self._last_metadata:  # the events of one command share their metadata
            try:
                trace_id = _trace_decoder.decode(raw).trace_id
            except (msgspec.DecodeError, msgspec.ValidationError):
                trace_id = None
            self._last_metadata = raw
            self._last_trace = [(t.TRACE_ID_HEADER, trace_id.encode())] if trace_id else []
        return self._last_trace

    def _audit(
        self,
        change: Change,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        row: dict[str, Any],
    ) -> list[OutRecord]:
        row_id = row.get("id")
        out = [
            OutRecord(
                t.CDC_AUDIT,
                str(row_id).encode() if row_id is not None else None,
                self._envelope(change, before, after),
                [],
            )
        ]
        if change.op in ("c", "r") and after is not None:
            out.append(audit_record(after))
        return out

    def truncate(
        self, shape: TableShape, lsn: int, tx_id: int | None, commit_ts_ms: int
    ) -> OutRecord:
        topic = {"events": t.CDC_ACCOUNTS, "audit_log": t.CDC_AUDIT}.get(shape.table, t.CDC_DLQ)
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
        return OutRecord(t.CDC_DLQ, shape.table.encode(), _encoder.encode(letter), headers)


def audit_key(row: dict[str, Any]) -> bytes | None:
    """Who the act is about: the actor, else the account, else the row (a failed
    sign-in has neither), so one actor's trail stays in order in one partition."""
    for column in ("actor_id", "account_id", "id"):
        value = row.get(column)
        if value is not None:
            return str(value).encode()
    return None


def audit_record(row: dict[str, Any]) -> OutRecord:
    """An audit_log row for ``audit-events``: the row as JSON, the same as the
    ``after`` of its ``cdc.audit`` change, without the envelope."""
    headers: Headers = [
        (name, str(row[name]).encode())
        for name in (t.AUDIT_ACTION_HEADER, t.AUDIT_OUTCOME_HEADER, t.TRACE_ID_HEADER)
        if row.get(name) is not None
    ]
    return OutRecord(t.AUDIT_EVENTS, audit_key(row), _encoder.encode(row), headers)
