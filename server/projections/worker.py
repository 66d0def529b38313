"""The projection worker: a Kafka consumer group on account-events (the topics of
shared.topics.PROJECTED_TOPICS) that applies batches of at most 1,000 records or 25 ms.

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

Errors (server/adapters/postgres/retry.py): an undecodable record goes to the
dead-letter topic and its position is passed; a broken PostgreSQL connection
is retried on a new one for as long as it takes (the worker shows "stalled");
any other error is retried a bounded number of times, then each partition of
the batch is tried alone and the one that still fails is stopped and marked
failed (metric, GET /health, alert) until the worker restarts or the partition
is reassigned, while the others go on. Progress and lag: runtime/consumer_progress.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from uuid import UUID

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from runtime import consumer_health, kafka
from runtime.consumer_group import OffsetCommits, Rebalances, StartCommits
from runtime.consumer_progress import Progress
from runtime.observability.pipeline import observe_batch
from runtime.settings import Settings
from server.adapters.postgres.pool import create_pool
from server.adapters.postgres.retry import BatchFailedError, RetryPolicy
from server.projections import metrics
from server.projections.dead_letters import DeadLetters
from server.projections.projector import CONSUMER_NAME, Positions, Projector
from server.projections.writer import load_checkpoints
from server.readmodel.cache import QueryCache, pipeline_redis
from shared.events import RecordedEvent, event_type_name, recorded_event_decoder
from shared.topics import (
    EVENT_ID_HEADER,
    PROJECTED_TOPICS,
    PROJECTIONS_DLQ,
    header,
)

log = logging.getLogger("bank.projections")
PROCESS = "projections"  # its name in GET /health and the pipeline metrics

BATCH_MAX_RECORDS = 1000
BATCH_MAX_SECONDS = 0.025
KAFKA_RETRY_SECONDS = 1.0
# A statement asyncpg prepared is prepared again after this long, and PostgreSQL plans
# it again: a generic plan cached while account_view was small (a sequential scan)
# does not outlive the table's growth by more than this
# (docs/adr/0344-random-page-cost-for-data-in-memory.md).
PLAN_LIFETIME_SECONDS = 10

# A batch's records, each with its event (None: undecodable, dead-lettered).
Decoded = list[tuple[ConsumerRecord, RecordedEvent | None]]


class Worker:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        projector: Projector,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.projector = projector
        self.progress = progress or Progress(PROCESS, settings.pipeline_stall_seconds)
        self.retry = RetryPolicy(
            pool.expire_connections, on_retry=lambda kind: metrics.APPLY_RETRIES.labels(kind).inc()
        )
        self._verify: dict[TopicPartition, tuple[int, UUID | None]] = {}
        self._last_offset: dict[TopicPartition, int] = {}
        self._failed: set[TopicPartition] = set()
        # The Kafka group offset; PostgreSQL holds the position.
        self._commits = OffsetCommits(clock=self.progress.clock)
        self._start_commits = StartCommits()  # a recreated partition's start, once committed
        self.consumer = AIOKafkaConsumer(
            **kafka.consumer_kwargs(
                settings.kafka,
                group_id=CONSUMER_NAME,
                client_id=CONSUMER_NAME,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=BATCH_MAX_RECORDS,
                metadata_max_age_ms=5000,
                **kafka.PROJECTION_FETCH,
                **kafka.GROUP_MEMBER_TIMING,
            )
        )
        self.producer = AIOKafkaProducer(
            **kafka.producer_kwargs(settings.kafka, client_id=CONSUMER_NAME, acks="all")
        )
        self.dead_letters = DeadLetters(self.producer, CONSUMER_NAME)
        self._stopping = asyncio.Event()
        self.sweep_needed = False

    # -- rebalances ---------------------------------------------------------
    def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self._verify.pop(tp, None)
            self._last_offset.pop(tp, None)
            self._failed.discard(tp)
            metrics.forget_partition(tp.topic, tp.partition)
        self._commits.forget(revoked)
        self.progress.forget((tp.topic, tp.partition) for tp in revoked)

    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Position newly assigned partitions at their PostgreSQL checkpoint."""
        checkpoints = await self.retry.run(
            lambda: load_checkpoints(self.pool, CONSUMER_NAME), "loading checkpoints"
        )
        known = [tp for tp in assigned if (tp.topic, tp.partition) in checkpoints]
        try:
            ends = await self.consumer.end_offsets(known) if known else {}
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
                self._restarted(tp)
                continue
            # Re-read the last applied record to confirm it is the same topic.
            self.consumer.seek(tp, cp[0])
            self._verify[tp] = cp

    def _restarted(self, tp: TopicPartition) -> None:
        """``tp`` starts again at offset 0: read it from there and catch up
        from the event store on what the old topic held and we never saw."""
        log.warning("%s[%d] was recreated: re-reading it from offset 0", tp.topic, tp.partition)
        metrics.TOPIC_RESETS.labels(tp.topic).inc()
        self._verify.pop(tp, None)
        self._last_offset.pop(tp, None)
        self.consumer.seek(tp, 0)
        self.sweep_needed = True
        # The group's committed offset went with the old topic: commit the new start
        # at the next commit. A topic recycle waits for that (cdc/recycle.py).
        self._commits.start_at(tp, 0)
        self._start_commits.committed([tp])

    async def ensure_topics(self) -> None:
        """Create the topics if the broker has none yet (the CDC connector does
        the same; whoever comes first wins)."""
        await kafka.create_missing_topics(self.settings.kafka, (*PROJECTED_TOPICS, PROJECTIONS_DLQ))

    def stop(self) -> None:
        self._stopping.set()

    async def catch_up(self) -> None:
        """Apply what the event store has and account_view lacks (after a start
        or a topic that restarted empty), each chunk counting as progress."""

        async def attempt() -> None:
            async for _ in self.projector.catch_up_from_store():
                self.progress.record_batch_done()

        await self.retry.run(attempt, "catch-up from the event store")

    async def run(self) -> None:
        await self.ensure_topics()
        await self.catch_up()
        self.consumer.subscribe(list(PROJECTED_TOPICS), listener=Rebalances(self))
        await self.producer.start()
        try:
            await self.consumer.start()
            self.progress.record_started()
            log.info("projection worker consuming %s", ", ".join(PROJECTED_TOPICS))
            while not self._stopping.is_set():
                records = await self.next_batch()
                if records:
                    await self.process(records)
                else:
                    await self.idle_round()
                self._record_lag()
                if self.sweep_needed:
                    self.sweep_needed = False
                    await self.catch_up()
        finally:
            await self.consumer.stop()
            await self.producer.stop()

    async def idle_round(self) -> None:
        """Nothing fetched: notice a recreated topic, and commit what the last batches
        left uncommitted. A topic recycle waits for the group to commit the end, then
        where each partition starts on the new topics (cdc/recycle.py); a start commit
        the group lost within a few seconds (the topic was replaced under it:
        ``StartCommits``) is made again."""
        for tp in await self._start_commits.lost(self.consumer):
            self._commits.start_at(tp, self._last_offset.get(tp, -1) + 1)
        # After the look above: a restart noticed now is committed below, then watched.
        self._check_positions()
        await self._commits.commit(self.consumer, idle=True)

    async def next_batch(self) -> list[ConsumerRecord]:
        """Up to BATCH_MAX_RECORDS records, waiting at most BATCH_MAX_SECONDS
        after the first one arrived."""
        got = await self.consumer.getmany(
            timeout_ms=kafka.IDLE_ROUND_MS, max_records=BATCH_MAX_RECORDS
        )
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
            expected = self._verify.pop(tp, None)
            restarted = False
            if expected is not None:
                if r.offset == expected[0] and _event_id(r) == expected[1]:
                    self._last_offset[tp] = r.offset
                    continue  # the checkpointed record itself: already applied
                restarted = True
                if r.offset > 0:  # recreated topic already past our old offset
                    self._restarted(tp)
                    rewind.add(tp)
                    continue
            elif tp in self._last_offset and r.offset <= self._last_offset[tp]:
                restarted = True
            if restarted:
                metrics.TOPIC_RESETS.labels(r.topic).inc()
                reset = True
            self._last_offset[tp] = r.offset
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
        self.progress.record_batch_started()
        decoded = await self._decode(records)
        failed = await self._apply(decoded)
        events = [e for _, e in decoded if e is not None]
        observe_batch(events, time.perf_counter() - started)  # trace ids in the log, spans
        metrics.BATCH_SIZE.observe(len(records))
        metrics.BATCH_DURATION.observe(time.perf_counter() - started)
        self._commits.done(r for r in records if _tp(r) not in failed)
        await self._commits.commit(self.consumer, idle=False)
        self.progress.record_batch_done()

    async def _decode(self, records: list[ConsumerRecord]) -> Decoded:
        """Each record with its event; undecodable ones go to the dead-letter
        topic first (acknowledged before their position can be committed)."""
        decoded: Decoded = []
        bad: list[tuple[ConsumerRecord, str]] = []
        by_type: Counter[str] = Counter()  # counted per batch: a labelled inc costs ~0.7 µs
        for r in records:
            try:
                event = recorded_event_decoder.decode(r.value)
            except (msgspec.DecodeError, TypeError) as exc:
                log.error("undecodable record %s[%d]@%d: %s", r.topic, r.partition, r.offset, exc)
                bad.append((r, f"{type(exc).__name__}: {exc}"))
                decoded.append((r, None))
                continue
            by_type[event_type_name(event.event)] += 1
            decoded.append((r, event))
        for name, n in by_type.items():
            metrics.EVENTS.labels(name).inc(n)
        while bad:
            try:
                await self.dead_letters.send(bad)
                break
            except KafkaError as exc:
                log.warning("dead letters not acknowledged (%s); retrying", exc)
                await asyncio.sleep(KAFKA_RETRY_SECONDS)
        return decoded

    async def _apply(self, decoded: Decoded) -> set[TopicPartition]:
        """Apply the batch; returns the partitions that failed and were stopped.
        When the whole batch fails, each partition is tried alone, so one bad
        partition does not hold the others back."""
        by_tp: dict[TopicPartition, Decoded] = {}
        for item in decoded:
            by_tp.setdefault(_tp(item[0]), []).append(item)
        try:
            await self._apply_records(decoded)
            return set()
        except BatchFailedError as exc:
            if len(by_tp) == 1:
                self._mark_failed(next(iter(by_tp)), decoded, exc)
                return set(by_tp)
            log.error("batch failed (%s): applying its %d partitions one by one", exc, len(by_tp))
        failed: set[TopicPartition] = set()
        for tp, part in by_tp.items():
            try:
                await self._apply_records(part)
            except BatchFailedError as exc:
                self._mark_failed(tp, part, exc)
                failed.add(tp)
        return failed

    async def _apply_records(self, decoded: Decoded) -> None:
        events = [e for _, e in decoded if e is not None]
        # Records come in offset order per partition: the last one of each wins.
        positions: Positions = {
            (r.topic, r.partition): (r.offset, _event_id(r)) for r, _ in decoded
        }
        await self.retry.run(lambda: self.projector.apply(events, positions), "projection batch")

    def _mark_failed(self, tp: TopicPartition, part: Decoded, exc: BatchFailedError) -> None:
        """Stop ``tp`` before its first unapplied record until it is reassigned
        (a restart, a rebalance), and say so."""
        first = part[0][0].offset
        log.error(
            "%s[%d] stopped at offset %d: its batch failed every retry (%s)",
            tp.topic,
            tp.partition,
            first,
            exc,
        )
        if tp in self.consumer.assignment():
            self.consumer.seek(tp, first)
            self.consumer.pause(tp)
        self._last_offset[tp] = first - 1
        self._failed.add(tp)
        metrics.PARTITION_FAILED.labels(tp.topic, str(tp.partition)).set(1)
        self.progress.record_failed((tp.topic, tp.partition), str(exc))

    def _check_positions(self) -> None:
        """A position past a partition's end means the topic was recreated
        under us (the broker restarted empty) while we kept the assignment."""
        for tp in self.consumer.assignment():
            hw = self.consumer.highwater(tp)
            last = self._last_offset.get(tp)
            verifying = self._verify.get(tp)  # the checkpointed record, still to be re-read
            if hw is None:
                continue
            if (last is not None and last + 1 > hw) or (verifying and verifying[0] >= hw):
                self._restarted(tp)

    def _record_lag(self) -> None:
        lag: dict[tuple[str, int], int] = {}
        for tp in self.consumer.assignment():
            hw = self.consumer.highwater(tp)
            if hw is None:
                continue
            n = max(hw - (self._last_offset.get(tp, -1) + 1), 0)
            lag[(tp.topic, tp.partition)] = n
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(n)
            if tp not in self._failed:
                metrics.PARTITION_FAILED.labels(tp.topic, str(tp.partition)).set(0)
        self.progress.record_lag(lag)


def _tp(r: ConsumerRecord) -> TopicPartition:
    return TopicPartition(r.topic, r.partition)


class _EventIdOnly(msgspec.Struct):
    event_id: UUID


_event_id_decoder = msgspec.json.Decoder(_EventIdOnly)


def _event_id(r: ConsumerRecord) -> UUID | None:
    """The record's event id: its header, else the envelope's field."""
    value = header(r.headers, EVENT_ID_HEADER)
    if value is not None:
        try:
            return UUID(value.decode())
        except ValueError:
            pass
    try:
        return _event_id_decoder.decode(r.value).event_id
    except (msgspec.DecodeError, TypeError):
        return None


async def run_worker(settings: Settings) -> None:
    progress = Progress(PROCESS, settings.pipeline_stall_seconds)
    metrics.declare(PROJECTED_TOPICS)
    consumer_health.serve(progress, settings.projections_metrics_port, settings.metrics_host)
    # synchronous_commit off: a batch's rows and its checkpoint still commit
    # atomically; a crash can only lose the last few milliseconds of batches,
    # which are re-read (from the PostgreSQL checkpoint) and re-applied.
    # min_size 0: the pool connects on first use, so a worker started while
    # PostgreSQL is down waits for it (retry.py) instead of exiting.
    pool = await create_pool(
        settings.database_url,
        min_size=0,
        max_size=4,
        max_cached_statement_lifetime=PLAN_LIFETIME_SECONDS,
        server_settings={"synchronous_commit": "off", "application_name": CONSUMER_NAME},
    )
    redis = pipeline_redis(settings)  # bounded waits: the refresh is best effort
    try:
        worker = Worker(settings, pool, Projector(pool, QueryCache(redis)), progress)
        await worker.run()
    finally:
        await redis.aclose()
        await pool.close()
