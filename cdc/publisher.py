"""Kafka side: topics, partitioning, batching, and knowing what has been acked.

Records are appended synchronously into aiokafka ``BatchBuilder``s, one open
batch per partition (far cheaper per record than ``producer.send``). ``seal``
closes a *round*: every record appended since the previous seal, plus the end
LSN of the last commit among them. The sender hands a partition's batch to
aiokafka as soon as that partition has nothing unsent there; meanwhile new
records keep filling our open batch, so batches grow with the load. A round is
acked when every batch holding its records is acked with ``acks=all``; rounds
are released strictly in order, so the connector only ever learns "everything
up to commit LSN X is in Kafka".

Broker-side idempotence and transactions do not work on the embedded broker
(Tansu), so delivery is at-least-once and consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
from collections import deque
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.metadata import MetadataRequest

from cdc.partitioner import partition_for
from cdc.router import OutRecord
from runtime import kafka
from runtime.settings import KafkaSettings
from shared.topics import CDC_DLQ, CDC_HEARTBEAT, KEPT_TOPICS, TopicSpec, topic_specs

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 1024 * 1024
# A partition's next batch goes at most this long after its previous one, and at
# once when it has been longer: an event alone is not delayed, a steady stream is
# sent in fuller batches. The embedded broker lists every batch stored in a
# partition on each fetch, so the number of batches is its cost (docs/adr/0311).
MIN_SEND_INTERVAL_SECONDS = 0.01
MAX_RECORD_BYTES = 1_000_000  # Kafka's default message.max.bytes is 1,048,588


class BrokerResetError(RuntimeError):
    """The broker lost our topics (restarted with in-memory storage)."""


def _append(builder: Any, record: OutRecord) -> bool:
    """BatchBuilder.append without its Python wrapper (hot path; aiokafka pinned
    at 0.14.0): straight into the C DefaultRecordBatchBuilder."""
    offset = builder._relative_offset
    if builder._builder.append(offset, None, record.key, record.value, record.headers) is None:
        builder.close()
        return False
    builder._relative_offset = offset + 1
    return True


def _too_large(record: OutRecord) -> OutRecord:
    log.error(
        "record for %s (key %r) is %d bytes, over the %d-byte limit: dead-lettered",
        record.topic,
        record.key,
        len(record.value),
        MAX_RECORD_BYTES,
    )
    note = json.dumps(
        {
            "reason": "record-too-large",
            "topic": record.topic,
            "bytes": len(record.value),
            "key": record.key.decode(errors="replace") if record.key else None,
            "head": record.value[:2000].decode(errors="replace"),
        }
    ).encode()
    return OutRecord(CDC_DLQ, record.key, note, [("dlq.reason", b"record-too-large")])


class Round:
    __slots__ = ("pending", "sealed", "commit_lsn", "commits", "records", "failed", "topics")

    def __init__(self) -> None:
        self.pending = 0
        self.sealed = False
        self.commit_lsn: int | None = None
        self.commits: list[int] = []  # commit timestamps (Unix µs) of commits in this round
        self.records = 0
        self.failed = False
        self.topics: dict[str, int] = {}  # records per topic (bank_cdc_records_total{topic})


class _Batch:
    """One aiokafka batch for one partition, and the rounds with records in it."""

    __slots__ = ("builder", "tp", "rounds", "last_round", "closed")

    def __init__(self, builder: Any, tp: tuple[str, int]) -> None:
        self.builder = builder
        self.tp = tp
        self.rounds: list[Round] = []
        self.last_round: Round | None = None
        self.closed = False


RoundAcked = Callable[[int | None, list[int], int], None]  # (commit_lsn, commit ts µs, records)


class Publisher:
    def __init__(
        self,
        kafka_settings: KafkaSettings,
        replication_factor: int,
        on_round_acked: RoundAcked,
        on_failure: Callable[[BaseException], None],
        *,
        topics: tuple[TopicSpec, ...] | None = None,
        request_timeout_ms: int = 30_000,
        on_topics_acked: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self._on_topics_acked = on_topics_acked
        self._kafka = kafka_settings  # every client is built by runtime.kafka from it
        self._rf = replication_factor
        self._topics = topics or topic_specs(kafka_settings.topic_partitions)
        self._on_round_acked = on_round_acked
        self._on_failure = on_failure
        self._request_timeout_ms = request_timeout_ms
        self.producer: AIOKafkaProducer | None = None
        self.admin: AIOKafkaAdminClient | None = None
        self.partitions: dict[str, int] = {}
        # Per partition, batches not yet handed to aiokafka, oldest first; the
        # last one may still be open for appends.
        self._queues: dict[tuple[str, int], deque[_Batch]] = {}
        self._waiting: set[tuple[str, int]] = set()  # partitions with queued batches
        self._wake = asyncio.Event()
        self._rounds: deque[Round] = deque()
        self._current = Round()
        self._pcache: dict[tuple[bytes, int], int] = {}
        self._tp_cache: dict[tuple[str, bytes], tuple[str, int]] = {}
        self._rr = 0
        self._sender: asyncio.Task[None] | None = None
        self.inflight_records = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._closed = False
        self._failed = False
        # What this publisher sent to the recyclable topics (all but KEPT_TOPICS)
        # since it started or last recreated them: acked batches per partition (a
        # fetch costs the embedded broker one list entry per batch of its partition)
        # and bytes in all (cdc/recycle.py). What an earlier session left there is
        # counted at start (count_what_the_broker_holds); its bytes are not.
        self._stored: dict[tuple[str, int], int] = {}
        self.stored_bytes = 0
        # Per partition, the offset after the last record Kafka acked there, and how
        # many times the topics were recreated under them (cdc/readers_hold.py).
        self.acked_ends: dict[tuple[str, int], int] = {}
        self.generation = 0

    @property
    def stored_batches(self) -> int:
        """Batches in the fullest recyclable partition."""
        return max(self._stored.values(), default=0)

    @property
    def recyclable(self) -> list[str]:
        """The topics a recycle deletes and creates again (cdc/recycle.py)."""
        return [s.name for s in self._topics if s.name not in KEPT_TOPICS]

    async def start(self) -> None:
        self.admin = AIOKafkaAdminClient(
            **kafka.admin_kwargs(self._kafka, request_timeout_ms=self._request_timeout_ms)
        )
        await self.admin.start()
        self.producer = AIOKafkaProducer(
            **kafka.producer_kwargs(
                self._kafka,
                acks="all",
                enable_idempotence=False,
                linger_ms=0,
                max_batch_size=MAX_BATCH_BYTES,
                max_request_size=4 * MAX_BATCH_BYTES,
                request_timeout_ms=self._request_timeout_ms,
                retry_backoff_ms=100,
            )
        )
        await self.producer.start()
        self._sender = asyncio.create_task(self._send_loop(), name="cdc-sender")

    async def ensure_topics(self) -> list[str]:
        """Create missing topics; learn every topic's partition count. Returns those created.

        After a reset of the embedded broker, a client that is not ours may have
        auto-created one of our topics with the broker's default partition count
        before we got to it (ours ask without it: runtime/kafka.py). Such a topic
        is still empty: it is deleted and created again with the right count. A
        non-empty topic with another count is left alone (logged): deleting it
        could lose records.
        """
        assert self.admin is not None and self.producer is not None
        created: list[str] = []
        for _ in range(5):
            existing = set(await self.admin.list_topics())
            missing = [s for s in self._topics if s.name not in existing]
            if missing:
                wanted = {s.name: s.partitions for s in missing}
                made = await kafka.create_topics(self.admin, wanted, self._rf)
                created += made
                log.info("created topics %s", made)
            counts = {
                d["topic"]: len(d["partitions"])
                for d in await self.admin.describe_topics([s.name for s in self._topics])
            }
            wrong = [s for s in self._topics if counts.get(s.name, 0) != s.partitions]
            empty_wrong = [
                s.name for s in wrong if await self._is_empty(s.name, counts.get(s.name, 0))
            ]
            if not empty_wrong:
                for s in wrong:
                    log.warning(
                        "topic %s has %d partitions, expected %d (not empty: left as it is)",
                        s.name,
                        counts.get(s.name, 0),
                        s.partitions,
                    )
                break
            log.warning("recreating empty topics with the wrong partition count: %s", empty_wrong)
            await self.admin.delete_topics(empty_wrong)
            await asyncio.sleep(0.2)
        await self.producer.client.force_metadata_update()
        for spec in self._topics:
            for _ in range(50):
                parts = await self.producer.partitions_for(spec.name)
                if parts:
                    break
                await asyncio.sleep(0.1)
            else:
                raise BrokerResetError(f"topic {spec.name} has no partitions")
            self.partitions[spec.name] = len(parts)
        return created

    async def recreate(self, names: list[str]) -> None:
        """Delete ``names`` and create them again, empty, with their partition counts.
        Only for a drained publisher whose readers have read everything (cdc/recycle.py)."""
        assert self.admin is not None and self.idle
        await self.admin.delete_topics(names)
        # ensure_topics creates them again, and mends one that another client's
        # metadata request auto-created meanwhile with the broker's default count.
        await self.ensure_topics()
        self._stored = {}
        self.stored_bytes = 0
        self.acked_ends = {tp: n for tp, n in self.acked_ends.items() if tp[0] not in names}
        self.generation += 1

    async def count_what_the_broker_holds(self) -> None:
        """Count what an earlier session left in the recyclable topics, so that the
        recycle threshold holds across restarts of the connector (cdc/recycle.py).
        The broker says how many records a partition holds, not how many batches;
        records are at least as many, so the count can only make a recycle come
        sooner, never later."""
        tps = [TopicPartition(t, p) for t in self.recyclable for p in range(self.partitions[t])]
        ends = await self._end_offsets(tps)
        self._stored = {(tp.topic, tp.partition): n for tp, n in ends.items() if n > 0}

    async def _is_empty(self, topic: str, partitions: int) -> bool:
        if partitions == 0:
            return True
        ends = await self._end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return not any(ends.values())

    async def _end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(
            **kafka.consumer_kwargs(
                self._kafka,
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=self._request_timeout_ms,
            )
        )
        await consumer.start()
        try:
            return await consumer.end_offsets(tps)
        finally:
            await consumer.stop()

    async def broker_intact(self) -> bool:
        """Is our heartbeat topic still there? Nothing else creates it, so if it
        is, the broker has not lost what we wrote since ensure_topics."""
        assert self.admin is not None
        # The admin client's own connection: a metadata request on the
        # producer's connection would queue produce acks behind its response.
        client = self.admin._client
        node = client.get_random_node()
        if node is None:
            return False
        resp = await client.send(
            node, MetadataRequest([CDC_HEARTBEAT], allow_auto_topic_creation=False)
        )
        topics = resp.to_object()["topics"]
        return bool(topics) and topics[0]["error_code"] == 0 and bool(topics[0]["partitions"])

    # --- appending (sync, called from the replication callback) ---------------

    def _partition(self, topic: str, key: bytes | None) -> int:
        n = self.partitions[topic]
        if key is None:
            self._rr += 1
            return self._rr % n
        ck = (key, n)
        p = self._pcache.get(ck)
        if p is None:
            if len(self._pcache) > 200_000:
                self._pcache.clear()
            p = partition_for(key, n)
            self._pcache[ck] = p
        return p

    def _topic_partition(self, topic: str, key: bytes | None) -> tuple[str, int]:
        if self.partitions[topic] == 1:
            # The embedded broker's topics (docs/adr/0311): no hash and nothing cached.
            # Each transfer's own stream is a new key, which cost 4.2 µs a record here.
            return (topic, 0)
        tp = (topic, self._partition(topic, key))
        if key is not None:
            if len(self._tp_cache) > 200_000:
                self._tp_cache.clear()
            self._tp_cache[(topic, key)] = tp
        return tp

    def append(self, record: OutRecord) -> None:
        if len(record.value) > MAX_RECORD_BYTES:
            # Over the broker's default message.max.bytes: it would be refused
            # and retried forever. Dead-letter a note about it instead.
            record = _too_large(record)
        topic = record.topic
        key = record.key
        # Hot path: a (topic, key) seen before costs one dict lookup.
        tp = self._tp_cache.get((topic, key)) if key is not None else None
        if tp is None:
            tp = self._topic_partition(topic, key)
        queue = self._queues.get(tp)
        if queue is None:
            queue = self._queues[tp] = deque()
        batch = queue[-1] if queue and not queue[-1].closed else None
        if batch is None or not _append(batch.builder, record):
            if batch is not None:
                batch.closed = True
            producer = self.producer
            assert producer is not None  # start() made it
            batch = _Batch(producer.create_batch(), tp)
            queue.append(batch)
            if not _append(batch.builder, record):
                raise ValueError(f"record for {topic} does not fit an empty batch")
        current = self._current
        if batch.last_round is not current:
            batch.last_round = current
            batch.rounds.append(current)
            current.pending += 1
        current.records += 1
        current.topics[topic] = current.topics.get(topic, 0) + 1
        if not self.inflight_records:
            self._drained.clear()
        self.inflight_records += 1
        self._waiting.add(tp)

    def note_commit(self, end_lsn: int, commit_ts_us: int) -> None:
        self._current.commit_lsn = end_lsn
        self._current.commits.append(commit_ts_us)

    def seal(self) -> None:
        """Close the current round (its batches go out as soon as their partition
        has nothing waiting in aiokafka); the next appends start a new round."""
        current = self._current
        if current.records == 0 and current.commit_lsn is None:
            return
        current.sealed = True
        self._rounds.append(current)
        self._current = Round()
        self._wake.set()
        if current.pending == 0:
            self._release()

    @property
    def idle(self) -> bool:
        return self.inflight_records == 0 and not self._rounds and self._current.records == 0

    async def wait_drained(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._drained.wait(), timeout)

    # --- sending ---------------------------------------------------------------

    async def _send_loop(self) -> None:
        """Hand batches to aiokafka, at most one not-yet-sent batch per partition.

        While a partition's previous batch waits for the in-flight request, new
        records keep filling our open batch for it, so each produce request
        carries everything accumulated meanwhile (batching grows with load), and
        this loop never blocks on one partition while others could go.
        """
        producer = self.producer
        assert producer is not None
        pending_in_aiokafka = producer._message_accumulator._batches  # aiokafka 0.14 internals
        loop = asyncio.get_running_loop()
        last_sent: dict[tuple[str, int], float] = {}
        while True:
            if not self._waiting:
                await self._wake.wait()
            self._wake.clear()
            now = loop.time()
            look_again = math.inf
            for tp in list(self._waiting):
                queue = self._queues[tp]
                due = last_sent.get(tp, -math.inf) + MIN_SEND_INTERVAL_SECONDS
                if now < due:
                    look_again = min(look_again, due)
                    continue
                while queue and not pending_in_aiokafka.get(tp):
                    last_sent[tp] = now
                    batch = queue.popleft()
                    batch.closed = True
                    try:
                        fut = await producer.send_batch(batch.builder, tp[0], partition=tp[1])
                    except Exception as exc:
                        self._fail(batch, exc)
                        return
                    fut.add_done_callback(functools.partial(self._batch_done, batch))
                if not queue:
                    self._waiting.discard(tp)
                else:  # aiokafka has not sent the previous batch yet: poll, but not early
                    due = last_sent.get(tp, -math.inf) + MIN_SEND_INTERVAL_SECONDS
                    look_again = min(look_again, max(due, now + 0.001))
            if self._waiting:
                # Partitions whose previous batch is not sent yet, or sent less than
                # MIN_SEND_INTERVAL_SECONDS ago: look again when the first may go
                # (or sooner: an ack also wakes us).
                timer = loop.call_later(max(look_again - now, 0.0), self._wake.set)
                await self._wake.wait()
                timer.cancel()

    def _batch_done(self, batch: _Batch, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self._fail(batch, asyncio.CancelledError("batch cancelled"))
            return
        exc = fut.exception()
        if exc is not None:
            self._fail(batch, exc)
            return
        if batch.tp[0] not in KEPT_TOPICS:
            self._stored[batch.tp] = self._stored.get(batch.tp, 0) + 1
            self.stored_bytes += batch.builder.size()
        acked = fut.result()
        if acked is not None:  # RecordMetadata of the batch: its base offset
            end = acked.offset + batch.builder.record_count()
            if end > self.acked_ends.get(batch.tp, 0):
                self.acked_ends[batch.tp] = end
        release = False
        for rnd in batch.rounds:
            rnd.pending -= 1
            if rnd.pending == 0 and rnd.sealed:
                release = True
        if release:
            self._release()
        if self._waiting:
            self._wake.set()

    def _release(self) -> None:
        rounds = self._rounds
        while rounds and rounds[0].pending == 0 and not rounds[0].failed:
            rnd = rounds.popleft()
            self.inflight_records -= rnd.records
            self._on_round_acked(rnd.commit_lsn, rnd.commits, rnd.records)
            if self._on_topics_acked is not None and rnd.topics:
                self._on_topics_acked(rnd.topics)
        if not rounds and self._current.records == 0:
            self._drained.set()

    def _fail(self, batch: _Batch, exc: BaseException) -> None:
        for rnd in batch.rounds:
            rnd.failed = True
        if self._closed or self._failed:
            return
        self._failed = True
        log.warning("Kafka produce failed: %r", exc)
        self._on_failure(exc)

    async def heartbeat(self, payload: bytes) -> None:
        """A Debezium-style heartbeat record; returns once Kafka acked it."""
        assert self.producer is not None
        acked = await self.producer.send(CDC_HEARTBEAT, payload, key=b"bank-cdc")
        await acked

    async def close(self, timeout: float = 5.0) -> None:
        self._closed = True
        if self._sender is not None:
            self._sender.cancel()
        for client in (self.producer, self.admin):
            if client is None:
                continue
            try:
                stop = client.stop() if isinstance(client, AIOKafkaProducer) else client.close()
                await asyncio.wait_for(stop, timeout)
            except Exception as exc:  # broker gone: nothing left to flush anyway
                log.debug("closing Kafka client: %r", exc)
