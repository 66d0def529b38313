"""The projection worker: a Kafka consumer group on account-events and
transaction-events that applies batches of at most 1,000 records or 25 ms.

Position handling (at-least-once, idempotent by stream version):
- PostgreSQL holds the position: each batch commits its read-model rows and
  the last applied offset (+ that record's event id) per partition in one
  transaction; the Kafka group offset is committed after, for tooling only.
- On assignment the consumer seeks to the checkpointed offset and expects the
  same event id there. Anything else means the topic was recreated (the
  embedded broker forgets its topics when it stops): the partition is re-read
  from offset 0 and missing versions are caught up from the event store.
  Re-reading is harmless: a redelivered event changes nothing.
- An offset going backwards without a rebalance is handled the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from uuid import UUID

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis

from runtime.observability.pipeline import observe_batch
from runtime.settings import Settings
from server.projections import metrics
from server.projections.projector import CONSUMER_NAME, Positions, Projector
from server.projections.writer import load_checkpoints
from server.readmodel.cache import QueryCache
from shared.events import (
    RecordedEvent,
    event_type_name,
    recorded_event_decoder,
)
from shared.topics import DOMAIN_EVENT_PARTITIONS, EVENT_TOPICS

log = logging.getLogger("bank.projections")

BATCH_MAX_RECORDS = 1000
BATCH_MAX_SECONDS = 0.025


class CheckpointSeeker(ConsumerRebalanceListener):  # type: ignore[misc]
    """Positions newly assigned partitions at their PostgreSQL checkpoint."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self.worker.verify.pop(tp, None)
            self.worker.last_offset.pop(tp, None)
            metrics.forget_lag(tp.topic, tp.partition)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        checkpoints = await load_checkpoints(self.worker.pool, CONSUMER_NAME)
        known = [tp for tp in assigned if (tp.topic, tp.partition) in checkpoints]
        try:
            ends = await self.worker.consumer.end_offsets(known) if known else {}
        except KafkaError as exc:
            log.warning("end offsets unknown (%s): verifying checkpoints by reading", exc)
            ends = {}
        for tp in known:
            cp = checkpoints[(tp.topic, tp.partition)]
            end = ends.get(tp)
            if end is not None and cp[0] >= end:
                # The partition is shorter than our position: the topic was
                # recreated (this broker answers a fetch past the end with
                # nothing, not with OffsetOutOfRange).
                self.worker.restarted(tp)
                continue
            # Re-read the last applied record to confirm it is the same topic.
            self.worker.consumer.seek(tp, cp[0])
            self.worker.verify[tp] = cp


class Worker:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, projector: Projector) -> None:
        self.settings = settings
        self.pool = pool
        self.projector = projector
        self.verify: dict[TopicPartition, tuple[int, UUID | None]] = {}
        self.last_offset: dict[TopicPartition, int] = {}
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=CONSUMER_NAME,
            client_id=CONSUMER_NAME,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=BATCH_MAX_RECORDS,
            fetch_max_wait_ms=10,
            metadata_max_age_ms=5000,
        )
        self._stopping = asyncio.Event()
        self.sweep_needed = False

    def restarted(self, tp: TopicPartition) -> None:
        """``tp`` starts again at offset 0: read it from there and catch up
        from the event store on what the old topic held and we never saw."""
        log.warning("%s[%d] was recreated: re-reading it from offset 0", tp.topic, tp.partition)
        metrics.TOPIC_RESETS.labels(tp.topic).inc()
        self.verify.pop(tp, None)
        self.last_offset.pop(tp, None)
        self.consumer.seek(tp, 0)
        self.sweep_needed = True

    async def ensure_topics(self) -> None:
        """Create the topics if the broker has none yet (the CDC connector does
        the same; whoever comes first wins)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            new = [
                NewTopic(t, DOMAIN_EVENT_PARTITIONS, self.settings.replication_factor)
                for t in EVENT_TOPICS
                if t not in existing
            ]
            if new:
                try:
                    await admin.create_topics(new)
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self.ensure_topics()
        await self.projector.catch_up_from_store()
        self.consumer.subscribe(list(EVENT_TOPICS), listener=CheckpointSeeker(self))
        await self.consumer.start()
        log.info("projection worker consuming %s", ", ".join(EVENT_TOPICS))
        try:
            while not self._stopping.is_set():
                records = await self.next_batch()
                if records:
                    await self.process(records)
                else:
                    self._check_positions()
                if self.sweep_needed:
                    self.sweep_needed = False
                    await self.projector.catch_up_from_store()
        finally:
            await self.consumer.stop()

    async def next_batch(self) -> list[ConsumerRecord]:
        """Up to BATCH_MAX_RECORDS records, waiting at most BATCH_MAX_SECONDS
        after the first one arrived."""
        got = await self.consumer.getmany(timeout_ms=200, max_records=BATCH_MAX_RECORDS)
        records = [r for rs in got.values() for r in rs]
        if not records:
            return records
        deadline = time.monotonic() + BATCH_MAX_SECONDS
        while len(records) < BATCH_MAX_RECORDS and time.monotonic() < deadline:
            got = await self.consumer.getmany(
                timeout_ms=0, max_records=BATCH_MAX_RECORDS - len(records)
            )
            if not got:
                break
            records.extend(r for rs in got.values() for r in rs)
        return records

    def screen(self, records: list[ConsumerRecord]) -> tuple[list[ConsumerRecord], bool]:
        """Drop re-read checkpoint records; detect partitions that restarted."""
        kept: list[ConsumerRecord] = []
        reset = False
        rewind: set[TopicPartition] = set()
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if tp in rewind:
                continue
            expected = self.verify.pop(tp, None)
            restarted = False
            if expected is not None:
                if r.offset == expected[0] and _event_id(r) == expected[1]:
                    self.last_offset[tp] = r.offset
                    continue  # the checkpointed record itself: already applied
                restarted = True
                if r.offset > 0:  # recreated topic already past our old offset
                    self.restarted(tp)
                    rewind.add(tp)
                    continue
            elif tp in self.last_offset and r.offset <= self.last_offset[tp]:
                restarted = True
            if restarted:
                metrics.TOPIC_RESETS.labels(r.topic).inc()
                reset = True
            self.last_offset[tp] = r.offset
            kept.append(r)
        return kept, reset

    async def process(self, records: list[ConsumerRecord]) -> None:
        started = time.perf_counter()
        records, reset = self.screen(records)
        if reset:
            log.warning("a topic restarted below its checkpoint: catching up from the event store")
            self.sweep_needed = True
        if not records:
            return
        events: list[RecordedEvent] = []
        positions: Positions = {}
        for r in records:
            event_id = _event_id(r)
            positions[(r.topic, r.partition)] = (r.offset, event_id)
            try:
                event = recorded_event_decoder.decode(r.value)
            except (msgspec.DecodeError, TypeError) as exc:
                log.error("undecodable record %s[%d]@%d: %s", r.topic, r.partition, r.offset, exc)
                continue
            events.append(event)
            metrics.EVENTS.labels(event_type_name(event.event)).inc()
        await self._apply_with_retry(events, positions)
        observe_batch(events, time.perf_counter() - started)  # trace ids in the log, spans
        metrics.BATCH_SIZE.observe(len(records))
        metrics.BATCH_DURATION.observe(time.perf_counter() - started)
        await self._commit(records)
        self._record_lag()

    async def _apply_with_retry(self, events: list[RecordedEvent], positions: Positions) -> None:
        delay = 0.05
        while True:
            try:
                await self.projector.apply(events, positions)
                return
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                # Nothing was committed; the same batch is tried again (a
                # concurrent worker may have won a race during a rebalance).
                log.warning("batch failed (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _commit(self, records: list[ConsumerRecord]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            offsets[TopicPartition(r.topic, r.partition)] = r.offset + 1
        assigned = self.consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:  # PostgreSQL holds the position; this is advisory
            log.info("Kafka offset commit skipped: %s", exc)

    def _check_positions(self) -> None:
        """A position past a partition's end means the topic was recreated
        under us (the broker restarted empty) while we kept the assignment."""
        for tp in self.consumer.assignment():
            hw = self.consumer.highwater(tp)
            last = self.last_offset.get(tp)
            if hw is not None and last is not None and last + 1 > hw:
                self.restarted(tp)

    def _record_lag(self) -> None:
        for tp in self.consumer.assignment():
            hw = self.consumer.highwater(tp)
            if hw is None:
                continue
            done = self.last_offset.get(tp, -1) + 1
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(hw - done, 0))


class _EventIdOnly(msgspec.Struct):
    event_id: UUID


_event_id_decoder = msgspec.json.Decoder(_EventIdOnly)


def _event_id(r: ConsumerRecord) -> UUID | None:
    """The record's event id: its header, else the envelope's field."""
    for key, value in r.headers or ():
        if key == "event_id":
            try:
                return UUID(value.decode())
            except ValueError:
                break
    try:
        return _event_id_decoder.decode(r.value).event_id
    except (msgspec.DecodeError, TypeError):
        return None


async def run_worker(settings: Settings) -> None:
    metrics.serve(settings.projections_metrics_port, settings.metrics_host)
    # synchronous_commit off: a batch's rows and its checkpoint still commit
    # atomically; a crash can only lose the last few milliseconds of batches,
    # which are re-read (from the PostgreSQL checkpoint) and re-applied.
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=4,
        server_settings={"synchronous_commit": "off", "application_name": CONSUMER_NAME},
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        worker = Worker(settings, pool, Projector(pool, QueryCache(redis)))
        await worker.run()
    finally:
        await redis.aclose()
        await pool.close()
