"""Kafka side: topics, partitioning, batching, and knowing what has been acked.

Records are appended synchronously into one aiokafka ``BatchBuilder`` per
partition (far cheaper per record than ``producer.send``); ``seal`` closes a
*round* (every record appended since the previous seal, plus the last commit
LSN among them) and queues its batches. A round is acked when every one of its
batches is acked with ``acks=all``; rounds are released strictly in order, so
the connector only ever learns "everything up to commit LSN X is in Kafka".

Broker-side idempotence and transactions do not work on the embedded broker
(Tansu), so delivery is at-least-once and consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import aiokafka.client
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2
from aiokafka.protocol.metadata import MetadataRequest

from cdc.router import OutRecord
from cdc.topics import CDC_HEARTBEAT, TOPICS, TopicSpec

log = logging.getLogger(__name__)

# Never let a metadata lookup create a topic: the embedded broker would create
# it with its default partition count (4) after a restart, before we recreate it
# with the right one. Process-wide; the connector is its own process.
aiokafka.client.MetadataRequest = functools.partial(  # type: ignore[attr-defined]
    MetadataRequest, allow_auto_topic_creation=False
)

MAX_BATCH_BYTES = 1024 * 1024


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


RoundAcked = Callable[[int | None, list[int], int], None]  # (commit_lsn, commit ts µs, records)


class Publisher:
    def __init__(
        self,
        bootstrap: str,
        replication_factor: int,
        on_round_acked: RoundAcked,
        on_failure: Callable[[BaseException], None],
        *,
        topics: tuple[TopicSpec, ...] = TOPICS,
        request_timeout_ms: int = 30_000,
        on_topics_acked: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self._on_topics_acked = on_topics_acked
        self._bootstrap = bootstrap
        self._rf = replication_factor
        self._topics = topics
        self._on_round_acked = on_round_acked
        self._on_failure = on_failure
        self._request_timeout_ms = request_timeout_ms
        self.producer: AIOKafkaProducer | None = None
        self.admin: AIOKafkaAdminClient | None = None
        self.partitions: dict[str, int] = {}
        self._builders: dict[tuple[str, int], Any] = {}
        self._queue: asyncio.Queue[tuple[str, int, Any, Round] | None] = asyncio.Queue()
        self._rounds: deque[Round] = deque()
        self._current = Round()
        self._pcache: dict[tuple[bytes, int], int] = {}
        self._rr = 0
        self._sender: asyncio.Task[None] | None = None
        self.inflight_records = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._closed = False

    async def start(self) -> None:
        self.admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, request_timeout_ms=self._request_timeout_ms
        )
        await self.admin.start()
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=False,
            linger_ms=0,
            max_batch_size=MAX_BATCH_BYTES,
            max_request_size=4 * MAX_BATCH_BYTES,
            request_timeout_ms=self._request_timeout_ms,
            retry_backoff_ms=100,
        )
        await self.producer.start()
        self._sender = asyncio.create_task(self._send_loop(), name="cdc-sender")

    async def ensure_topics(self) -> list[str]:
        """Create missing topics; learn every topic's partition count. Returns those created."""
        assert self.admin is not None and self.producer is not None
        existing = set(await self.admin.list_topics())
        missing = [s for s in self._topics if s.name not in existing]
        if missing:
            configs = {"min.insync.replicas": "2"} if self._rf >= 3 else {}
            await self.admin.create_topics(
                [NewTopic(s.name, s.partitions, self._rf, topic_configs=configs) for s in missing]
            )
            log.info("created topics %s", [s.name for s in missing])
        for spec in self._topics:
            for _ in range(50):
                parts = await self.producer.partitions_for(spec.name)
                if parts:
                    break
                await asyncio.sleep(0.1)
            else:
                raise BrokerResetError(f"topic {spec.name} has no partitions")
            self.partitions[spec.name] = len(parts)
            if len(parts) != spec.partitions:
                log.warning("topic %s has %d partitions, expected %d", spec.name, len(parts), spec.partitions)
        return [s.name for s in missing]

    async def broker_intact(self) -> bool:
        """Is our heartbeat topic still there? Nothing else creates it, so if it
        is, the broker has not lost what we wrote since ensure_topics."""
        assert self.producer is not None
        client = self.producer.client
        node = client.get_random_node()
        if node is None:
            return False
        resp = await client.send(node, MetadataRequest([CDC_HEARTBEAT], allow_auto_topic_creation=False))
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
            # Same hash as the Java client and aiokafka's DefaultPartitioner.
            p = (murmur2(key) & 0x7FFFFFFF) % n
            self._pcache[ck] = p
        return p

    def append(self, record: OutRecord) -> None:
        topic = record.topic
        tp = (topic, self._partition(topic, record.key))
        builder = self._builders.get(tp)
        if builder is None:
            builder = self._builders[tp] = self.producer.create_batch()  # type: ignore[union-attr]
        if not _append(builder, record):
            self._enqueue(tp, builder)
            builder = self._builders[tp] = self.producer.create_batch()  # type: ignore[union-attr]
            if not _append(builder, record):
                raise ValueError(f"record for {topic} larger than {MAX_BATCH_BYTES} bytes")
        current = self._current
        current.records += 1
        current.topics[topic] = current.topics.get(topic, 0) + 1
        self.inflight_records += 1
        self._drained.clear()

    def note_commit(self, end_lsn: int, commit_ts_us: int) -> None:
        self._current.commit_lsn = end_lsn
        self._current.commits.append(commit_ts_us)

    def _enqueue(self, tp: tuple[str, int], builder: Any) -> None:
        self._current.pending += 1
        self._queue.put_nowait((tp[0], tp[1], builder, self._current))

    def seal(self) -> None:
        """Queue every open batch and close the current round."""
        current = self._current
        if current.records == 0 and current.commit_lsn is None and current.pending == 0:
            return
        for tp, builder in self._builders.items():
            self._enqueue(tp, builder)
        self._builders.clear()
        current.sealed = True
        self._rounds.append(current)
        self._current = Round()
        if current.pending == 0:
            self._release()

    @property
    def idle(self) -> bool:
        return self.inflight_records == 0 and not self._rounds and self._current.records == 0

    async def wait_drained(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._drained.wait(), timeout)

    # --- sending ---------------------------------------------------------------

    async def _send_loop(self) -> None:
        assert self.producer is not None
        while True:
            item = await self._queue.get()
            if item is None:
                return
            topic, partition, builder, rnd = item
            if rnd.failed:
                continue
            try:
                fut = await self.producer.send_batch(builder, topic, partition=partition)
            except Exception as exc:
                self._fail(rnd, exc)
                continue
            fut.add_done_callback(functools.partial(self._batch_done, rnd))

    def _batch_done(self, rnd: Round, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self._fail(rnd, asyncio.CancelledError("batch cancelled"))
            return
        exc = fut.exception()
        if exc is not None:
            self._fail(rnd, exc)
            return
        rnd.pending -= 1
        if rnd.pending == 0 and rnd.sealed:
            self._release()

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

    def _fail(self, rnd: Round, exc: BaseException) -> None:
        if self._closed or rnd.failed:
            return
        rnd.failed = True
        log.warning("Kafka produce failed: %r", exc)
        self._on_failure(exc)

    async def heartbeat(self, payload: bytes) -> None:
        """A Debezium-style heartbeat record (fire and forget)."""
        assert self.producer is not None
        await self.producer.send(CDC_HEARTBEAT, payload, key=b"bank-cdc")

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


