"""The Kafka side on librdkafka (``confluent-kafka``): same rounds, cheaper records.

Same contract as ``Publisher`` (whose topic management, broker check and round
release it reuses): records are appended synchronously, ``seal`` closes a
round, rounds are released strictly in order once Kafka acked (``acks=all``)
every record in them. What changes is who batches: each record is handed to
librdkafka's ``produce()`` (a C call), which batches per partition in its own
threads (``linger.ms``) and reports each delivery; the event loop serves those
reports with ``poll(0)``. Per-key order: one producer, the partition chosen
here (murmur2, as before), and at most one request in flight per broker
connection, so a retried batch is never overtaken by the next one.

Not the connector's default: measured in the connector
(docs/adr/0100-cdc-kafka-client.md), it cost about the same connector CPU per
event as our own aiokafka batches and 2-3.5x the broker's CPU. Kept so the
measurement can be repeated (``python -m bench.cdc --client rdkafka``), e.g.
against a real Kafka cluster; ``confluent-kafka`` is in the ``bench`` extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import confluent_kafka

from cdc.publisher import MAX_BATCH_BYTES, MAX_RECORD_BYTES, Publisher, Round, _too_large
from cdc.router import OutRecord
from runtime import kafka
from shared.topics import CDC_HEARTBEAT

log = logging.getLogger(__name__)

LINGER_MS = 5  # a small linger: fuller requests, each costing the broker once
POLL_SECONDS = 0.001  # how often deliveries are served while records are in flight


class KafkaDeliveryError(RuntimeError):
    pass


class RdKafkaPublisher(Publisher):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._current: _RdRound = _RdRound(self)
        self.rd: confluent_kafka.Producer | None = None
        self._poller: asyncio.Task[None] | None = None
        self._work = asyncio.Event()

    async def start(self) -> None:
        await super().start()  # the admin client and aiokafka's metadata (topic checks)
        assert self._sender is not None
        self._sender.cancel()  # aiokafka sends nothing here: librdkafka does
        self.rd = confluent_kafka.Producer(
            kafka.librdkafka_config(
                self._kafka,
                {
                    "acks": "all",
                    "enable.idempotence": False,  # not on the embedded broker; order below
                    "max.in.flight.requests.per.connection": 1,
                    "linger.ms": LINGER_MS,
                    "batch.size": MAX_BATCH_BYTES,
                    "message.max.bytes": 4 * MAX_BATCH_BYTES,
                    "message.timeout.ms": self._request_timeout_ms,
                    "request.timeout.ms": self._request_timeout_ms,
                    "queue.buffering.max.messages": 1_000_000,
                    "compression.type": kafka.COMPRESSION,
                    "compression.level": kafka.COMPRESSION_LEVEL,
                    "partitioner": "murmur2_random",  # unused: we choose the partition
                    "allow.auto.create.topics": False,
                    "topic.metadata.refresh.interval.ms": 10_000,
                },
            )
        )
        self._poller = asyncio.create_task(self._poll_loop(), name="cdc-rdkafka-poll")

    # --- appending (sync, called from the replication callback) ---------------

    def append(self, record: OutRecord) -> None:
        if len(record.value) > MAX_RECORD_BYTES:
            record = _too_large(record)
        topic, key = record.topic, record.key
        tp = self._tp_cache.get((topic, key)) if key is not None else None
        if tp is None:
            tp = self._topic_partition(topic, key)
        current = self._current
        rd = self.rd
        assert rd is not None
        # Our headers are list[tuple[str, bytes]]; the stub wants the wider element type.
        headers: Any = record.headers or None
        try:
            rd.produce(topic, record.value, key, tp[1], current.delivered, headers=headers)
        except BufferError:  # librdkafka's queue is full: serve deliveries, then retry once
            rd.poll(0)
            rd.produce(topic, record.value, key, tp[1], current.delivered, headers=headers)
        current.pending += 1
        current.records += 1
        current.topics[topic] = current.topics.get(topic, 0) + 1
        if not self.inflight_records:
            self._drained.clear()
            self._work.set()
        self.inflight_records += 1

    def seal(self) -> None:
        current = self._current
        if current.records == 0 and current.commit_lsn is None:
            return
        current.sealed = True
        self._rounds.append(current)
        self._current = _RdRound(self)
        if current.pending == 0:
            self._release()

    async def _poll_loop(self) -> None:
        rd = self.rd
        assert rd is not None
        while True:
            if not self.inflight_records:
                self._work.clear()
                await self._work.wait()
            rd.poll(0)
            await asyncio.sleep(POLL_SECONDS)

    def _delivery_failed(self, rnd: Round, err: Any) -> None:
        rnd.failed = True
        if self._closed or self._failed:
            return
        self._failed = True
        exc = KafkaDeliveryError(str(err))
        log.warning("Kafka produce failed: %r", exc)
        self._on_failure(exc)

    async def heartbeat(self, payload: bytes) -> None:
        assert self.rd is not None
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()

        def done(err: Any, _msg: Any) -> None:
            if acked.done():
                return
            if err is not None:
                acked.set_exception(KafkaDeliveryError(str(err)))
            else:
                acked.set_result(None)

        self.rd.produce(CDC_HEARTBEAT, payload, b"bank-cdc", on_delivery=done)
        self._work.set()
        while not acked.done():  # the poll loop sleeps when no round is in flight
            self.rd.poll(0)
            await asyncio.sleep(POLL_SECONDS)
        await acked

    async def close(self, timeout: float = 5.0) -> None:
        self._closed = True
        if self._poller is not None:
            self._poller.cancel()
        if self.rd is not None:
            rd, self.rd = self.rd, None
            # Whatever is still queued is not confirmed, so resent by the next
            # session: drop it (its callbacks, run here, see _closed).
            rd.purge()
            rd.flush(min(timeout, 1.0))
        await super().close(timeout)


class _RdRound(Round):
    """A round whose records report their own delivery (librdkafka's callback)."""

    __slots__ = ("delivered",)

    def __init__(self, pub: RdKafkaPublisher) -> None:
        super().__init__()
        self.delivered: Callable[[Any, Any], None] = self._callback(pub)

    def _callback(self, pub: RdKafkaPublisher) -> Callable[[Any, Any], None]:
        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                pub._delivery_failed(self, err)
                return
            tp, end = (msg.topic(), msg.partition()), msg.offset() + 1
            if end > pub.acked_ends.get(tp, 0):  # cdc/readers_hold.py
                pub.acked_ends[tp] = end
            self.pending -= 1
            if self.pending == 0 and self.sealed:
                pub._release()

        return delivered
