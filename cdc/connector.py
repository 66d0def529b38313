"""The pipeline: WAL stream -> envelopes and routing -> Kafka -> confirm to PostgreSQL.

The one rule: an LSN is confirmed to PostgreSQL (``flush_lsn``) only after Kafka
acked (``acks=all``) every record of every transaction up to it, *and* the
heartbeat topic was seen still present after those acks (the embedded broker
acks writes to topics it forgot after a restart). Any failure (broker down,
produce error, lost topics, PostgreSQL gone) ends the session; the next one
starts after a backoff from the slot's confirmed LSN, so PostgreSQL resends
everything not yet confirmed: at-least-once, duplicates possible, nothing lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import asyncpg
import msgspec
from aiokafka.errors import KafkaError

from cdc import snapshot as snap
from cdc.envelope import TableShape, now_ms
from cdc.group_offsets import GroupOffsets
from cdc.metrics import Metrics
from cdc.pgoutput import (
    Begin,
    ColumnValue,
    Commit,
    Delete,
    Insert,
    Message,
    ProtocolError,
    Relation,
    Truncate,
    Update,
    decode,
    format_lsn,
)
from cdc.publisher import BrokerResetError, Publisher
from cdc.reader import RawMessage, ReplicationStream
from cdc.readers_hold import ASK_EVERY_SECONDS, ReadersHold
from cdc.recycle import Recycler
from cdc.router import Change, OutRecord, Router
from cdc.tables import CAPTURED_TABLES, RETIRED_TABLES
from runtime.observability.pipeline import trace_publisher
from runtime.settings import Settings
from shared.topics import CDC_DLQ, READERS

log = logging.getLogger(__name__)

# Between sessions: 0.25 s doubling to 1 s; back to 0.25 s after a session that ran
# HEALTHY_SESSION_SECONDS. A retry is one connection attempt to a local server, so a
# short cap costs nothing, and a long one is pure read lag after an outage: with 5 s
# and a never-reset doubling, the connector slept 2 s after PostgreSQL was back
# (docs/adr/0704-cdc-reconnects-within-a-second.md).
BACKOFF_MIN = 0.25
BACKOFF_MAX = 1.0
HEALTHY_SESSION_SECONDS = 2.0
TICK_SECONDS = 0.5
HEARTBEAT_SECONDS = 5.0
# The slot's position is confirmed at most this often, each time after asking the
# broker whether it still has our topics (one metadata request). Only the WAL the
# slot keeps and what a restart sends again depend on it, not the commit -> ack
# latency (docs/adr/0313-confirm-every-100-ms.md).
CONFIRM_EVERY_SECONDS = 0.1
READ_TO_COMMIT_SECONDS = 5.0
MAX_INFLIGHT_RECORDS = 20_000
# A topic recycle (cdc/recycle.py) drains the publisher first; past this, it gives up.
RECYCLE_DRAIN_SECONDS = 15.0
SNAPSHOT_ROUND_ROWS = 2_000

# Called with (commit timestamp µs, ack time µs) for every acked transaction.
CommitAckHook = Callable[[int, int], None]


class HeartbeatRecord(msgspec.Struct):
    ts_ms: int
    confirmed_lsn: str
    server_wal_end: str


_hb_encoder = msgspec.json.Encoder()


class Connector:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        *,
        on_commit_acked: CommitAckHook | None = None,
        max_inflight_records: int = MAX_INFLIGHT_RECORDS,
        publisher: type[Publisher] = Publisher,  # docs/adr/0100: aiokafka, measured
    ) -> None:
        self._publisher_cls = publisher
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.progress = self.metrics.progress
        self._on_commit_acked = on_commit_acked
        self._max_inflight = max_inflight_records
        url = urlparse(settings.admin_database_url)
        self._db = (url.path or "/").lstrip("/") or "postgres"
        self._router = Router(server_name="bank", db=self._db)
        self._dead_seen = 0
        self._readers_seen: set[str] = set()  # consumer groups seen reading (ReadersHold)
        self._reset_session_state()

    def _reset_session_state(self) -> None:
        self._shapes: dict[int, TableShape] = {}
        self._xid: int | None = None
        self._commit_ts_ms = 0
        self._in_txn = False
        self._acked_lsn = 0
        self._acked_records = 0
        self._stopping = False
        self._txn_ended: asyncio.Event | None = None  # set while a stop reads on to a commit
        self._ack_event = asyncio.Event()
        self._pub: Publisher | None = None
        self._reader: ReplicationStream | None = None
        self._failure: asyncio.Future[None] | None = None
        self._recycler: Recycler | None = None
        self._recycling: asyncio.Task[None] | None = None  # the WAL is not read meanwhile
        self._hold: ReadersHold | None = None  # on a memory-only broker
        self._postgres_away = False  # our side connection to it is lost (watch_slot)
        self._group_offsets: GroupOffsets | None = None

    # --- lifecycle --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run sessions until ``stop`` is set; restart failed ones with backoff."""
        backoff = BACKOFF_MIN
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._session(stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                kind = type(exc).__name__
                self.metrics.errors.labels(kind=kind).inc()
                self.metrics.restarts.inc()
                if time.monotonic() - started > HEALTHY_SESSION_SECONDS:
                    backoff = BACKOFF_MIN
                log.warning(
                    "CDC session ended (%s: %s); resuming from the slot's confirmed LSN in %.2fs",
                    kind,
                    exc,
                    backoff,
                )
                try:
                    await asyncio.wait_for(stop.wait(), backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is not None and not self._failure.done():
            self._failure.set_exception(exc)

    async def _session(self, stop: asyncio.Event) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        self._reset_session_state()
        self._failure = loop.create_future()
        self._failure.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
        pub = self._pub = self._publisher_cls(
            s.kafka,
            s.replication_factor,
            self._round_acked,
            self._fail,
            on_topics_acked=self.metrics.topics_acked,
        )
        trace_publisher(pub)  # a span per traced record, only when tracing is on
        if Recycler.enabled(s.kafka):
            self._recycler = Recycler(s.kafka, pub)
        reader = self._reader = ReplicationStream(
            s.admin_database_url, s.cdc_slot, s.cdc_publication, self._on_messages, self._fail
        )
        tasks: list[asyncio.Task[Any]] = []
        try:
            await pub.start()
            created = await pub.ensure_topics()
            self.metrics.topics_recreated.inc(len(created))
            if self._recycler is not None:
                await pub.count_what_the_broker_holds()
            if s.kafka.memory_only:
                self._group_offsets = GroupOffsets(s.kafka, list(READERS))
                await self._group_offsets.start()
                self._hold = ReadersHold(seen=self._readers_seen, away=lambda: self._postgres_away)
            reader.connect()
            tables = reader.ensure_publication(CAPTURED_TABLES, RETIRED_TABLES)
            await self._prepare_slot(reader, pub, tables)
            self.metrics.confirmed_lsn.set(reader.confirmed_lsn)
            reader.start(loop)
            self.progress.session_started()
            log.info("streaming %s from %s to %s", tables, reader.describe(), s.kafka_bootstrap)
            for coro in (self._confirm_loop(), self._tick_loop()):
                task = asyncio.create_task(coro)
                task.add_done_callback(self._task_done)
                tasks.append(task)
            stopper = asyncio.ensure_future(stop.wait())
            waiters: set[asyncio.Future[Any]] = {stopper, self._failure}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if self._failure.done():
                self._failure.result()  # raises the failure
            await self._drain_and_confirm()
        finally:
            await self._end_session(reader, pub, tasks)

    async def _end_session(
        self, reader: ReplicationStream, pub: Publisher, tasks: list[asyncio.Task[Any]]
    ) -> None:
        """Release the session whatever broke: each step runs even if one before it
        fails, so the next session starts clean from the slot's confirmed LSN."""
        self._stopping = True
        self.progress.session_ended()
        for task in (*tasks, self._recycling):
            if task is not None:
                task.cancel()
        try:
            reader.close()
        except Exception as exc:
            log.warning("closing the replication stream: %r", exc)
        finally:
            try:
                await pub.close()
            finally:
                await self._close_group_offsets()
                self._pub = None
                self._reader = None
                self._in_txn = False

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._fail(exc)

    async def _close_group_offsets(self) -> None:
        offsets, self._group_offsets = self._group_offsets, None
        if offsets is None:
            return
        try:
            await offsets.stop()
        except Exception as exc:
            log.warning("closing the consumer groups' offset reader: %r", exc)

    async def _drain_and_confirm(self) -> None:
        """Clean shutdown: stop reading, flush what was read, confirm it."""
        assert self._pub is not None and self._reader is not None
        self._stopping = True
        if self._recycling is not None:  # it sees _stopping between its steps
            await asyncio.wait({self._recycling}, timeout=RECYCLE_DRAIN_SECONDS)
        await self._read_to_the_commit(timeout=READ_TO_COMMIT_SECONDS)
        self._reader.pause()
        self._pub.seal()
        await self._wait_drained(timeout=15.0)
        lsn = await self._confirmable(ask_now=True)
        if lsn > self._reader.confirmed_lsn and await self._pub.broker_intact():
            self._reader.confirm(lsn, force=True)
        else:
            self._reader.confirm(self._reader.confirmed_lsn, force=True)
        log.info("stopped cleanly at %s", self._reader.describe())

    async def _read_to_the_commit(self, timeout: float) -> None:
        """Stopped inside a transaction: read on to its commit (it is committed, or
        pgoutput would not have sent it), so the part already published is confirmed
        with the rest and a restart does not send it again. A restart after a
        timeout sends the transaction again, which at-least-once allows."""
        if not self._in_txn:
            return
        assert self._reader is not None
        self._txn_ended = ended = asyncio.Event()
        self._reader.resume()
        try:
            await asyncio.wait_for(ended.wait(), timeout)
        except TimeoutError:
            log.warning("stopping inside a transaction: its commit did not come in %ss", timeout)
        finally:
            self._txn_ended = None

    async def _wait_drained(self, timeout: float | None = None) -> None:
        assert self._pub is not None and self._failure is not None
        waiter = asyncio.ensure_future(self._pub.wait_drained())
        done, _ = await asyncio.wait(
            {waiter, self._failure}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            if self._failure.done():
                self._failure.result()
            raise TimeoutError("Kafka did not ack in time")

    # --- slot and snapshot ------------------------------------------------------

    async def _prepare_slot(
        self, reader: ReplicationStream, pub: Publisher, tables: list[str]
    ) -> None:
        s = self.settings
        conn = await asyncpg.connect(s.admin_database_url)
        try:
            await snap.ensure_state(conn)
            info = reader.slot_info()
            if info is not None and await snap.snapshot_done(conn, s.cdc_slot):
                reader.confirmed_lsn = info[0]
                return
            if info is not None:
                log.warning(
                    "slot %s exists but its snapshot never completed: recreating it", s.cdc_slot
                )
                reader.drop_slot()
            await snap.forget(conn, s.cdc_slot)
            consistent_lsn, snapshot_name = reader.create_slot()
            rows = await snap.run_snapshot(
                s.admin_database_url, snapshot_name, tables, consistent_lsn, self._emit_snapshot
            )
            pub.seal()
            await self._wait_drained()
            if not await pub.broker_intact():
                raise BrokerResetError("broker lost its topics during the snapshot")
            await snap.mark_done(conn, s.cdc_slot, consistent_lsn, rows)
            reader.confirmed_lsn = consistent_lsn
            self.progress.confirmed()
            log.info(
                "snapshot: %d rows emitted as op 'r' up to %s", rows, format_lsn(consistent_lsn)
            )
        finally:
            await conn.close()

    async def _emit_snapshot(self, change: Change) -> None:
        pub = self._pub
        assert pub is not None
        for record in self._router.route(change):
            pub.append(record)
        self.metrics.snapshot_rows.inc()
        self.progress.snapshot_row_sent()
        if pub.inflight_records % SNAPSHOT_ROUND_ROWS == 0:
            pub.seal()
        if pub.inflight_records >= self._max_inflight:
            pub.seal()
            await self._wait_drained()

    # --- the hot path (sync, from the replication socket callback) --------------

    def _on_messages(self, batch: list[RawMessage]) -> None:
        pub, reader, router = self._pub, self._reader, self._router
        assert pub is not None and reader is not None
        changes = 0
        insert_fast = self._insert_fast
        for data_start, payload in batch:
            # Insert ('I' ... 'N'): the hot path, parsed in one pass.
            if payload[0] == 0x49 and payload[5] == 0x4E and insert_fast(data_start, payload, pub):
                changes += 1
                continue
            try:
                msg = decode(payload)
            except ProtocolError as exc:
                self._undecodable(data_start, payload, exc)
                continue
            changes += self._on_message(data_start, msg, pub)
            if (ended := self._txn_ended) is not None and not self._in_txn:
                # Stopping, and the transaction read so far has ended: read no further
                # (what follows is not confirmed, so the next session reads it).
                self._txn_ended = None  # before the seal below: its ack must not resume
                reader.pause()
                ended.set()
                break
        pub.seal()
        self.metrics.changes.inc(changes)
        if router.dead_letters != self._dead_seen:
            self.metrics.dead_letters.inc(router.dead_letters - self._dead_seen)
            self._dead_seen = router.dead_letters
        if pub.inflight_records >= self._max_inflight:
            reader.pause()

    def _insert_fast(self, lsn: int, payload: bytes, pub: Publisher) -> bool:
        """An insert of a known table, straight from the bytes; False: take the generic path."""
        shape = self._shapes.get(int.from_bytes(payload[1:5], "big"))
        if shape is None:
            return False
        try:
            after = shape.parse_tuple(payload, 6)
        except Exception:  # anything odd: the generic path decides
            return False
        change = Change(
            shape=shape,
            op="c",
            before=None,
            after=None,
            lsn=lsn,
            tx_id=self._xid,
            commit_ts_ms=self._commit_ts_ms,
            raw_message=payload,
        )
        append = pub.append
        for record in self._router.route_rows(change, None, after):
            append(record)
        return True

    def _on_message(self, lsn: int, msg: Message, pub: Publisher) -> int:
        """Handle one decoded message; the number of row changes it was (0 or 1)."""
        match msg:
            case Insert(relation_oid=oid, new=new):
                change = self._change(oid, "c", None, new, lsn)
            case Update(relation_oid=oid, old=old, key=key, new=new):
                change = self._change(oid, "u", old or key, new, lsn)
            case Delete(relation_oid=oid, old=old, key=key):
                change = self._change(oid, "d", old or key, None, lsn)
            case Begin(xid=xid, commit_ts_us=ts):
                self._xid, self._commit_ts_ms, self._in_txn = xid, ts // 1000, True
                return 0
            case Commit(end_lsn=end_lsn, commit_ts_us=ts):
                pub.note_commit(end_lsn, ts)
                self._in_txn = False
                return 0
            case Relation(oid=oid, namespace=namespace, name=name, columns=columns):
                self._shapes[oid] = TableShape(oid, namespace, name, columns)
                return 0
            case Truncate(relation_oids=oids):
                for oid in oids:
                    shape = self._shapes.get(oid) or self._unknown(oid)
                    pub.append(self._router.truncate(shape, lsn, self._xid, self._commit_ts_ms))
                return 0
            case _:  # Origin, Type, logical messages: nothing to publish
                return 0
        for record in self._router.route(change):
            pub.append(record)
        return 1

    def _change(
        self,
        oid: int,
        op: str,
        before: list[ColumnValue] | None,
        after: list[ColumnValue] | None,
        lsn: int,
    ) -> Change:
        return Change(
            shape=self._shapes.get(oid) or self._unknown(oid),
            op=op,
            before=before,
            after=after,
            lsn=lsn,
            tx_id=self._xid,
            commit_ts_ms=self._commit_ts_ms,
        )

    def _unknown(self, oid: int) -> TableShape:
        return TableShape(oid, "?", f"relation-{oid}", ())

    def _undecodable(self, lsn: int, payload: bytes, exc: ProtocolError) -> None:
        log.error("undecodable pgoutput message at LSN %s: %s", format_lsn(lsn), exc)
        self.metrics.errors.labels(kind="undecodable").inc()
        self.metrics.dead_letters.inc()
        value = msgspec.json.encode(
            {
                "reason": "undecodable-message",
                "error": str(exc),
                "lsn": lsn,
                "lsn_text": format_lsn(lsn),
                "payload_hex": bytes(payload).hex(),
                "ts_ms": now_ms(),
            }
        )
        assert self._pub is not None
        self._pub.append(
            OutRecord(CDC_DLQ, b"pgoutput", value, [("dlq.reason", b"undecodable-message")])
        )

    # --- acks, confirmation, heartbeats ----------------------------------------

    def _round_acked(self, commit_lsn: int | None, commits: list[int], records: int) -> None:
        now_us = time.time_ns() // 1000
        hist = self.metrics.commit_to_ack
        hook = self._on_commit_acked
        for ts in commits:
            hist.observe((now_us - ts) / 1e6)
            if hook is not None:
                hook(ts, now_us)
        if commits:
            self.metrics.lag_ms.set((now_us - commits[-1]) / 1000)
        self._acked_records += records
        if commit_lsn is not None and commit_lsn > self._acked_lsn:
            self._acked_lsn = commit_lsn
            self._ack_event.set()
        reader, pub = self._reader, self._pub
        if (
            reader is not None
            and pub is not None
            and reader.paused
            and self._recycling is None
            and (not self._stopping or self._txn_ended is not None)
            and pub.inflight_records < self._max_inflight // 2
        ):
            reader.resume()

    def postgres_went_away(self) -> None:
        """PostgreSQL ended a session of ours (cdc/metrics.py ``watch_slot``): if it is
        shutting down, its walsender waits for us to confirm what we were sent, and the
        consumers cannot read on meanwhile: stop waiting for them."""
        if not self._postgres_away:
            log.info("PostgreSQL went away: confirming what Kafka acks without the readers")
        self._postgres_away = True
        self._ack_event.set()  # the hold lets go at the next look

    def postgres_is_back(self) -> None:
        self._postgres_away = False

    async def _confirmable(self, *, ask_now: bool = False) -> int:
        """The acked position that may be confirmed: on a memory-only broker, the newest
        one every platform consumer group has read past (cdc/readers_hold.py)."""
        hold, pub, offsets = self._hold, self._pub, self._group_offsets
        if hold is None or pub is None or offsets is None:
            return self._acked_lsn
        hold.mark(self._acked_lsn, pub.generation, pub.acked_ends)
        try:
            return await hold.clear(offsets.committed, pub.generation, now=ask_now)
        except KafkaError as exc:  # asked again at the next ack or check
            log.info("asking the consumer groups' offsets: %r", exc)
            return hold.cleared_lsn

    async def _confirm_loop(self) -> None:
        reader, pub = self._reader, self._pub
        assert reader is not None and pub is not None
        while True:
            if self._hold is not None and self._hold.holding:
                try:  # the groups move on without an ack of ours: ask them again soon
                    await asyncio.wait_for(self._ack_event.wait(), ASK_EVERY_SECONDS)
                except TimeoutError:
                    pass
            else:
                await self._ack_event.wait()
            self._ack_event.clear()
            lsn = await self._confirmable()
            if lsn <= reader.confirmed_lsn:
                continue
            if not await pub.broker_intact():
                raise BrokerResetError("the broker lost our topics (restarted?)")
            reader.confirm(lsn)
            self.metrics.confirmed_lsn.set(lsn)
            self.progress.confirmed()
            await asyncio.sleep(CONFIRM_EVERY_SECONDS)

    async def _tick_loop(self) -> None:
        reader, pub = self._reader, self._pub
        assert reader is not None and pub is not None
        last_records, last_time, last_hb = self._acked_records, time.monotonic(), 0.0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            self.metrics.records_per_second.set(
                (self._acked_records - last_records) / (now - last_time)
            )
            acked_since_last = self._acked_records != last_records
            last_records, last_time = self._acked_records, now
            self.metrics.inflight.set(pub.inflight_records)
            wal_end = reader.server_wal_end
            if pub.idle and not self._in_txn:
                # Also the broker watchdog while nothing flows.
                if not await pub.broker_intact():
                    raise BrokerResetError("the broker lost our topics (restarted?)")
                if self._acked_lsn <= reader.confirmed_lsn and wal_end > reader.confirmed_lsn:
                    # Heartbeat: everything the server decoded up to wal_end is
                    # acked and nothing is in flight, so the slot may move on
                    # (WAL written by other tables must not pile up).
                    reader.confirm(wal_end)
                    self.metrics.confirmed_lsn.set(wal_end)
                    self.progress.confirmed()
                self.metrics.lag_ms.set(0)  # idle and caught up
            reader.keepalive()
            if self._recycling is None and self._recycler is not None and self._recycler.due():
                self._recycling = asyncio.create_task(self._recycle(self._recycler))
                self._recycling.add_done_callback(self._task_done)
            self.metrics.stored_batches.set(pub.stored_batches)
            self.progress.measured(
                max(0, wal_end - reader.confirmed_lsn),
                pub.inflight_records,
                held_for_readers=self._hold is not None and self._hold.holding,
                acked_since_last=acked_since_last,
            )
            if now - last_hb >= HEARTBEAT_SECONDS:
                last_hb = now
                record = HeartbeatRecord(
                    ts_ms=now_ms(),
                    confirmed_lsn=format_lsn(reader.confirmed_lsn),
                    server_wal_end=format_lsn(wal_end),
                )
                task = asyncio.create_task(pub.heartbeat(_hb_encoder.encode(record)))
                task.add_done_callback(self._heartbeat_done)

    async def _recycle(self, recycler: Recycler) -> None:
        """Recycle the topics (cdc/recycle.py); the WAL stream is paused once the readers
        are close to the end: everything sent is acked first, and nothing new is sent
        until the readers are on the new topics."""
        reader, pub = self._reader, self._pub
        assert reader is not None and pub is not None

        async def pause() -> None:
            reader.pause()
            pub.seal()
            await self._wait_drained(timeout=RECYCLE_DRAIN_SECONDS)

        try:
            outcome = await recycler.run(pause, lambda: self._stopping, reader.keepalive)
            self.metrics.topic_recycles.labels(outcome=outcome).inc()
        finally:
            self._recycling = None
            if not self._stopping:
                reader.resume()  # also after a back-pressure pause: it pauses again if due

    def _heartbeat_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is None:
            self.progress.heartbeat_acked()
