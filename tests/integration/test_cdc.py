"""The CDC connector against real PostgreSQL and a real Tansu broker.

Each test runs its own `python -m cdc` (own slot, publication, metrics port)
against its own Tansu broker, so killing brokers and connectors here never
disturbs the session's shared stack or other tests. Events are appended with
SQL the way the write side does (bench/cdc_load.py).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.default_records import DefaultRecordBase
from aiokafka.record.memory_records import MemoryRecords

from bench.cdc_load import Appender, append_batch
from cdc.envelope import envelope_decoder
from infra.local.ports import free_port
from infra.local.procs import ManagedProcess, tcp_ready
from infra.local.pytest_plugin import TEST_TOPIC_PARTITIONS
from infra.local.services import kafka_api_versions, tansu_argv
from infra.local.stack import EmbeddedStack
from shared.events import RecordedEvent, recorded_event_decoder
from shared.topics import partitions_by_topic

_counter = itertools.count()
PARTITIONS_OF_THE_TEST_STACK = partitions_by_topic(TEST_TOPIC_PARTITIONS)


class Cdc:
    """One connector process with its own broker, slot and publication."""

    def __init__(
        self,
        stack: EmbeddedStack,
        broker: ManagedProcess,
        bootstrap: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        n = f"{os.getpid()}_{next(_counter)}"
        self.stack = stack
        self.broker = broker
        self.bootstrap = bootstrap
        self.slot = f"cdc_test_{n}"
        self.publication = f"cdc_test_pub_{n}"
        self.metrics_port = free_port()
        self.proc = stack.spawn(
            f"cdc-test-{n}",
            ["-m", "cdc"],
            ready=tcp_ready(self.metrics_port),
            port=self.metrics_port,
            extra_env={
                "BANK_KAFKA_BOOTSTRAP": bootstrap,
                "BANK_CDC_SLOT": self.slot,
                "BANK_CDC_PUBLICATION": self.publication,
                "BANK_CDC_METRICS_PORT": str(self.metrics_port),
                **(extra_env or {}),
            },
            wait=False,
        )

    async def wait_streaming(self, db: asyncpg.Pool, timeout: float = 90.0) -> None:
        """Until the connector's slot is active (topics created, snapshot done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.alive, self.proc.log_tail()
            active = await db.fetchval(
                "SELECT active FROM pg_replication_slots WHERE slot_name = $1", self.slot
            )
            done = await db.fetchval(
                "SELECT to_regclass('cdc_snapshots') IS NOT NULL"
            ) and await db.fetchval("SELECT 1 FROM cdc_snapshots WHERE slot_name = $1", self.slot)
            if active and done:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("connector not streaming:\n" + self.proc.log_tail())

    async def metrics(self) -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text

    async def wait_changes_read(self, at_least: int, timeout: float = 30.0) -> None:
        """Until the connector has decoded ``at_least`` row changes from the WAL."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in (await self.metrics()).splitlines():
                if line.startswith("cdc_changes_total ") and float(line.split()[1]) >= at_least:
                    return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the connector read fewer than {at_least} changes")

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            resp = await client.get(f"http://127.0.0.1:{self.metrics_port}/health")
            return resp.status_code, resp.json()

    async def wait_health(
        self, check: Callable[[int, dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            code, body = await self.health()
            if check(code, body):
                return body
            assert time.monotonic() < deadline, f"health stayed {code} {body}"
            await asyncio.sleep(0.2)

    async def confirmed_lsn(self, db: asyncpg.Pool) -> int:
        return int(
            await db.fetchval(
                "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots"
                " WHERE slot_name = $1",
                self.slot,
            )
        )


@pytest.fixture
def broker(stack: EmbeddedStack) -> Iterator[tuple[ManagedProcess, str]]:
    port = free_port()
    name = f"tansu-cdc-test-{port}"
    proc = ManagedProcess(
        name,
        tansu_argv(port),
        env=dict(os.environ),
        cwd=stack.data_dir,
        log_path=stack.logs_dir / f"{name}.log",
        pid_path=stack.pid_path(name),
        ready=lambda: kafka_api_versions(port),
        port=port,
    )
    proc.start().wait_ready(30)
    yield proc, f"127.0.0.1:{port}"
    proc.stop()


@pytest_asyncio.fixture
async def start_cdc(
    stack: EmbeddedStack, broker: tuple[ManagedProcess, str], db: asyncpg.Pool
) -> AsyncIterator[Callable[..., Cdc]]:
    started: list[Cdc] = []

    def start(extra_env: dict[str, str] | None = None) -> Cdc:
        c = Cdc(stack, broker[0], broker[1], extra_env)
        started.append(c)
        return c

    yield start
    for c in started:
        c.proc.stop()
        stack.processes.pop(c.proc.name, None)
        for _ in range(50):
            try:
                await db.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE slot_name = $1",
                    c.slot,
                )
                break
            except asyncpg.ObjectInUseError:  # the walsender of a killed connector lingers
                await asyncio.sleep(0.1)
        await db.execute(f'DROP PUBLICATION IF EXISTS "{c.publication}"')
        await db.execute("DELETE FROM cdc_snapshots WHERE slot_name = $1", c.slot)


async def collect(
    bootstrap: str,
    topics: list[str],
    done: Callable[[list[ConsumerRecord]], bool],
    timeout: float = 60.0,
) -> list[ConsumerRecord]:
    """Read the topics from the beginning until ``done(records)``."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while not done(records):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out with {len(records)} records from {topics}")
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for msgs in batch.values():
                records.extend(msgs)
    finally:
        await consumer.stop()
    return records


def events_of(records: list[ConsumerRecord]) -> list[RecordedEvent]:
    return [recorded_event_decoder.decode(r.value) for r in records]


def have_ids(ids: set[uuid.UUID]) -> Callable[[list[ConsumerRecord]], bool]:
    def done(records: list[ConsumerRecord]) -> bool:
        seen = {recorded_event_decoder.decode(r.value).event_id for r in records}
        return ids <= seen

    return done


def have_cdc_ids(ids: set[str]) -> Callable[[list[ConsumerRecord]], bool]:
    def done(records: list[ConsumerRecord]) -> bool:
        envs = (envelope_decoder.decode(r.value) for r in records)
        return ids <= {(e.after or {}).get("event_id") for e in envs}

    return done


async def append(
    db: asyncpg.Pool, appender: Appender, batches: int, size: int
) -> list[RecordedEvent]:
    out: list[RecordedEvent] = []
    async with db.acquire() as conn:
        for _ in range(batches):
            out += await append_batch(conn, appender.next_events(size), trace_id="cdc-test")
    return out


async def test_a_deposit_reaches_the_cdc_topics_and_its_domain_topic_in_order(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    appender = Appender(accounts=3)
    appended = await append(db, appender, batches=3, size=5)
    ids = {e.event_id for e in appended}

    domain = await collect(cdc.bootstrap, ["account-events"], have_ids(ids))
    mine = [r for r in domain if recorded_event_decoder.decode(r.value).event_id in ids]
    by_id = {e.event_id: e for e in appended}
    partitions: dict[bytes, set[int]] = defaultdict(set)
    versions: dict[uuid.UUID, list[int]] = defaultdict(list)
    for r in mine:
        event = recorded_event_decoder.decode(r.value)
        assert event == by_id[event.event_id]  # the very RecordedEvent that was written
        assert r.key == str(event.stream_id).encode()
        headers = dict(r.headers)
        assert headers["event_id"] == str(event.event_id).encode()
        assert headers["event_type"] == type(event.event).__name__.encode()
        assert headers["version"] == str(event.version).encode()
        assert headers["trace_id"] == b"cdc-test"
        partitions[r.key].add(r.partition)
        versions[event.stream_id].append(event.version)
    assert all(len(p) == 1 for p in partitions.values())  # one account, one partition
    assert all(v == sorted(v) for v in versions.values())

    str_ids = {str(i) for i in ids}
    changes = await collect(cdc.bootstrap, ["cdc.accounts"], have_cdc_ids(str_ids))
    envs = [envelope_decoder.decode(r.value) for r in changes]
    envs = [e for e in envs if e.after and e.after["event_id"] in str_ids]
    assert {e.op for e in envs} == {"c"}
    for e in envs:
        assert e.before is None and e.source.table == "events" and e.source.connector == "bank-cdc"
        assert e.source.lsn and e.source.txId and e.source.snapshot == "false"
        assert isinstance(e.after["payload"], dict) and e.after["stream_type"] == "account"  # type: ignore[index]
    assert len({e.source.txId for e in envs}) == 3  # three transactions

    text = await cdc.metrics()
    for name in (
        "bank_cdc_records_total",
        "cdc_records_per_second",
        "bank_cdc_lag_bytes",
        "bank_cdc_lag_ms",
        "cdc_commit_to_ack_seconds_bucket",
        "cdc_confirmed_lsn",
        "cdc_errors_total",
        "cdc_dead_letters_total",
    ):
        assert name in text


async def test_topics_are_created_with_their_partition_counts(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    assert await partition_counts(cdc.bootstrap) == PARTITIONS_OF_THE_TEST_STACK


async def partition_counts(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = list(PARTITIONS_OF_THE_TEST_STACK)
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([n for n in names if n in existing])
        return {d["topic"]: len(d["partitions"]) for d in described}
    finally:
        await admin.close()


async def test_the_broker_keeps_the_connectors_batches_zstd_compressed(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    """runtime.kafka.COMPRESSION: the embedded broker holds every batch as it was
    sent, so what it stores per event is the compressed batch (docs/adr/0316)."""
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    appended = await append(db, Appender(accounts=3), batches=3, size=5)
    ids = {e.event_id for e in appended}
    await collect(cdc.bootstrap, ["account-events"], have_ids(ids))
    await collect(cdc.bootstrap, ["cdc.accounts"], have_cdc_ids({str(i) for i in ids}))
    for topic in ("account-events", "cdc.accounts"):
        codecs = await stored_codecs(cdc.bootstrap, topic)
        assert codecs and set(codecs) == {DefaultRecordBase.CODEC_ZSTD}, (topic, codecs)


async def stored_codecs(bootstrap: str, topic: str) -> list[int]:
    """The compression codec of every batch the broker returns for ``topic``, read raw."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    codecs: list[int] = []
    try:
        for partition in range(PARTITIONS_OF_THE_TEST_STACK[topic]):
            node = client.cluster.leader_for_partition(TopicPartition(topic, partition))
            fetch = FetchRequest(100, 1, 10_000_000, 0, [(topic, [(partition, 0, 10_000_000)])])
            response = await client.send(node, fetch)
            for _, partitions in response.topics:
                for answer in partitions:
                    records = MemoryRecords(answer[-1])  # the partition's record batches
                    while (batch := records.next_batch()) is not None:
                        codecs.append(batch.compression_type)
    finally:
        await client.close()
    return codecs


async def test_a_new_slot_on_a_database_with_rows_first_emits_them_as_op_r(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    appender = Appender(accounts=2)
    before = await append(db, appender, batches=2, size=3)
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    after = await append(db, appender, batches=1, size=2)
    old = {str(e.event_id) for e in before}
    new = {str(e.event_id) for e in after}

    def done(records: list[ConsumerRecord]) -> bool:
        last = any(envelope_decoder.decode(r.value).source.snapshot == "last" for r in records)
        return last and have_cdc_ids(old | new)(records)

    records = await collect(cdc.bootstrap, ["cdc.accounts", "cdc.audit"], done, timeout=90)
    envs = [envelope_decoder.decode(r.value) for r in records]
    ops = {e.after["event_id"]: e for e in envs if e.after and e.source.table == "events"}
    assert all(ops[i].op == "r" and ops[i].source.snapshot in ("true", "last") for i in old)
    assert all(ops[i].op == "c" and ops[i].source.snapshot == "false" for i in new)
    assert sum(1 for e in envs if e.source.snapshot == "last") == 1
    # Snapshot events rows are routed like inserts, so consumers get the history too.
    await collect(cdc.bootstrap, ["account-events"], have_ids({e.event_id for e in before}))


async def test_sigkill_mid_stream_loses_nothing_and_keeps_each_accounts_order(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    appender = Appender(accounts=50)
    appended: list[RecordedEvent] = []
    async with db.acquire() as conn:
        for i in range(100):  # 10,000 events in 100 transactions
            appended += await append_batch(conn, appender.next_events(100), trace_id="kill")
            if i == 40:
                await asyncio.sleep(0.05)  # let it be mid-stream
                assert cdc.proc.kill(signal.SIGKILL) == -signal.SIGKILL
            if i == 70:
                cdc.proc.start()
    ids = {e.event_id for e in appended}
    assert len(ids) == 10_000

    records = await collect(cdc.bootstrap, ["account-events"], have_ids(ids), timeout=180)
    events = [e for e in events_of(records) if e.event_id in ids]
    counts = defaultdict(int)
    for e in events:
        counts[e.event_id] += 1
    duplicates = sum(c - 1 for c in counts.values())
    assert set(counts) == ids  # none missing
    print(f"\n10,000 events, SIGKILL mid-stream: {duplicates} duplicates, 0 missing")

    # Per account, as a consumer reads its partition: skipping versions already
    # seen (the duplicates), the versions come 1, 2, 3, ... with no gap.
    by_partition = sorted(
        (r for r in records if recorded_event_decoder.decode(r.value).event_id in ids),
        key=lambda r: (r.partition, r.offset),
    )
    last: dict[uuid.UUID, int] = defaultdict(int)
    for r in by_partition:
        e = recorded_event_decoder.decode(r.value)
        if e.version <= last[e.stream_id]:
            continue  # a duplicate, which an idempotent consumer skips
        assert e.version == last[e.stream_id] + 1, f"gap or reorder in {e.stream_id}"
        last[e.stream_id] = e.version
    assert last == {a: v for a, v in appender.versions.items()}


async def test_a_restarted_broker_gets_its_topics_back_and_the_stream_goes_on(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    appender = Appender(accounts=4)
    first = await append(db, appender, batches=2, size=10)
    await collect(cdc.bootstrap, ["account-events"], have_ids({e.event_id for e in first}))

    cdc.broker.kill(signal.SIGKILL)  # in-memory broker: every topic is gone
    during = await append(db, appender, batches=2, size=10)
    # It notices the broker is gone (its session ends and is retried) and stays up.
    deadline = time.monotonic() + 60
    while await restarts_counted(cdc) < 1:
        assert cdc.proc.alive, "the connector must retry, not exit:\n" + cdc.proc.log_tail()
        assert time.monotonic() < deadline, "no session restart seen:\n" + cdc.proc.log_tail()
        await asyncio.sleep(0.2)
    assert cdc.proc.alive, "the connector must retry, not exit"
    cdc.broker.start().wait_ready(30)
    after = await append(db, appender, batches=2, size=10)

    want = {e.event_id for e in during + after}
    deadline = time.monotonic() + 90
    while await partition_counts(cdc.bootstrap) != PARTITIONS_OF_THE_TEST_STACK:
        assert time.monotonic() < deadline, "topics not recreated:\n" + cdc.proc.log_tail()
        await asyncio.sleep(0.2)
    await collect(cdc.bootstrap, ["account-events"], have_ids(want), timeout=90)
    assert await restarts_counted(cdc) >= 1
    assert cdc.proc.alive


async def restarts_counted(cdc: Cdc) -> float:
    """cdc_pipeline_restarts_total (0 while the metrics port does not answer)."""
    try:
        text = await cdc.metrics()
    except OSError:
        return 0.0
    restarts = [ln for ln in text.splitlines() if ln.startswith("cdc_pipeline_restarts_total")]
    return float(restarts[0].split()[-1]) if restarts else 0.0


async def test_a_topic_a_consumer_auto_created_after_a_broker_reset_gets_its_partitions_back(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    assert cdc.proc.kill(signal.SIGTERM) == 0
    cdc.broker.kill(signal.SIGKILL)
    cdc.broker.start().wait_ready(30)
    # What a consumer's metadata request does to a forgotten topic: the broker's default.
    admin = AIOKafkaAdminClient(bootstrap_servers=cdc.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("account-events", 4, 1)])
    finally:
        await admin.close()
    events = await append(db, Appender(accounts=3), batches=2, size=5)
    cdc.proc.start()
    await cdc.wait_streaming(db)
    assert (await partition_counts(cdc.bootstrap))["account-events"] == 8
    await collect(cdc.bootstrap, ["account-events"], have_ids({e.event_id for e in events}))


async def test_an_event_of_an_unknown_stream_type_is_a_dead_letter_and_the_stream_goes_on(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    marker = uuid.uuid4()
    await db.execute(
        "INSERT INTO events (event_id, stream_id, stream_type, version, event_type, payload)"
        " VALUES ($1, $1, 'loan', 1, 'LoanGranted', '{}')",
        marker,
    )
    good = await append(db, Appender(accounts=1), batches=1, size=2)

    def letter(records: list[ConsumerRecord]) -> bool:
        return any(str(marker).encode() in r.value for r in records)

    letters = await collect(cdc.bootstrap, ["cdc.dlq"], letter)
    [mine] = [msgspec.json.decode(r.value) for r in letters if str(marker).encode() in r.value]
    assert mine["reason"] == "unknown-stream-type" and mine["table"] == "events"
    assert mine["lsn"] > 0 and mine["after"]["stream_type"] == "loan"
    await collect(cdc.bootstrap, ["account-events"], have_ids({e.event_id for e in good}))
    dead = [
        ln for ln in (await cdc.metrics()).splitlines() if ln.startswith("cdc_dead_letters_total")
    ]
    assert float(dead[0].split()[-1]) >= 1


LEGACY_OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    uuid        NOT NULL,
    topic           text        NOT NULL,
    key             text        NOT NULL,
    event_type      text        NOT NULL,
    payload         jsonb       NOT NULL,
    headers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
)"""


async def test_while_the_old_outbox_table_exists_each_event_is_sent_once(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    """A database still on the old write path (before migration 0004 dropped it) fills
    the outbox too: the events rows alone are routed, so no event reaches its topic twice."""
    await db.execute(LEGACY_OUTBOX_DDL)  # the table as migration 0001 made it
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    published = await db.fetch(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = $1", cdc.publication
    )
    assert {r["tablename"] for r in published} == {"events", "audit_log"}
    appender = Appender(accounts=3)
    events: list[RecordedEvent] = []
    async with db.acquire() as conn:
        for _ in range(4):
            events += await append_batch(conn, appender.next_events(10), legacy_outbox=True)
    later = await append(db, appender, batches=1, size=3)  # read after all the others
    ids = {e.event_id for e in events}
    records = await collect(
        cdc.bootstrap, ["account-events"], have_ids(ids | {e.event_id for e in later})
    )
    sent = [e.event_id for e in events_of(records) if e.event_id in ids]
    assert sorted(sent) == sorted(ids)  # each once
    await db.execute("DROP TABLE outbox")


async def test_each_audit_row_reaches_audit_events_keyed_by_its_actor(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    actor, account = uuid.uuid4(), uuid.uuid4()
    row_ids = [
        await db.fetchval(
            "INSERT INTO audit_log (actor_id, actor_role, action, target_type, target_id,"
            " account_id, outcome, trace_id, details) VALUES ($1, 'customer', $2, 'account',"
            " $3, $4, 'accepted', 'audit-test', $5::jsonb) RETURNING id",
            who,
            action,
            str(account),
            account,
            '{"amount": 500}',
        )
        for who, action in ((actor, "deposit_money"), (None, "sign_in"))
    ]

    def both(records: list[ConsumerRecord]) -> bool:
        return set(row_ids) <= {msgspec.json.decode(r.value).get("id") for r in records}

    trail = [
        r
        for r in await collect(cdc.bootstrap, ["audit-events"], both)
        if msgspec.json.decode(r.value)["id"] in row_ids
    ]
    changes = await collect(
        cdc.bootstrap,
        ["cdc.audit"],
        lambda rs: (
            set(row_ids) <= {(envelope_decoder.decode(r.value).after or {}).get("id") for r in rs}
        ),
    )
    after = {
        e.after["id"]: e.after
        for e in (envelope_decoder.decode(r.value) for r in changes)
        if e.after and e.after["id"] in row_ids
    }
    by_id = {msgspec.json.decode(r.value)["id"]: r for r in trail}
    assert set(by_id) == set(row_ids) and len(trail) == 2
    signed_in, anonymous = by_id[row_ids[0]], by_id[row_ids[1]]
    assert signed_in.key == str(actor).encode()  # the actor's trail, in order, in one partition
    assert anonymous.key == str(account).encode()  # nobody signed in: by account
    for rid, rec in by_id.items():
        assert msgspec.json.decode(rec.value) == after[rid]  # the cdc.audit row, no envelope
        assert dict(rec.headers)["trace_id"] == b"audit-test"
    assert msgspec.json.decode(signed_in.value)["details"] == {"amount": 500}


async def test_heartbeats_advance_the_slot_while_captured_tables_are_quiet(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    await db.execute("CREATE TABLE IF NOT EXISTS cdc_test_scratch (n int)")
    try:
        await db.execute("INSERT INTO cdc_test_scratch SELECT generate_series(1, 1000)")
        target = int(await db.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
        deadline = time.monotonic() + 15
        while await cdc.confirmed_lsn(db) < target:
            assert time.monotonic() < deadline, "slot did not advance on a quiet database"
            await asyncio.sleep(0.2)
    finally:
        await db.execute("DROP TABLE IF EXISTS cdc_test_scratch")


async def test_sigterm_flushes_and_confirms_before_exiting(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc()
    await cdc.wait_streaming(db)
    lsn_before = int(await db.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
    appender = Appender(accounts=2)
    events = await append(db, appender, batches=5, size=50)
    ids = {e.event_id for e in events}
    # Under load the signal could otherwise come before the connector read any of
    # them, and then there would be nothing to flush or confirm.
    await cdc.wait_changes_read(1)
    assert cdc.proc.kill(signal.SIGTERM) == 0
    assert await cdc.confirmed_lsn(db) > lsn_before

    # Everything read was confirmed: a restarted connector sends none of it again.
    cdc.proc.start()
    await cdc.wait_streaming(db)
    later = await append(db, appender, batches=1, size=5)
    records = await collect(
        cdc.bootstrap, ["account-events"], have_ids(ids | {e.event_id for e in later})
    )
    assert sum(1 for e in events_of(records) if e.event_id in ids) == len(ids)


async def test_health_reports_the_slot_lag_and_a_stall_while_the_broker_is_gone(
    start_cdc: Callable[..., Cdc], db: asyncpg.Pool
) -> None:
    cdc = start_cdc({"BANK_PIPELINE_STALL_SECONDS": "3"})
    await cdc.wait_streaming(db)
    body = await cdc.wait_health(lambda code, b: code == 200 and b["status"] == "ok")
    assert body["process"] == "cdc" and body["stall_threshold_seconds"] == 3
    assert isinstance(body["slot_lag_bytes"], int) and body["last_progress_age_seconds"] < 3
    await cdc.wait_health(lambda code, b: b["heartbeat_age_seconds"] is not None, timeout=15)

    cdc.broker.kill(signal.SIGKILL)  # nothing can be acked, so nothing confirmed
    await append(db, Appender(accounts=2), batches=2, size=10)
    stalled = await cdc.wait_health(lambda code, b: code == 503, timeout=30)
    assert stalled["status"] == "stalled" and stalled["slot_lag_bytes"] > 0
    assert stalled["last_progress_age_seconds"] > 3
    assert 'bank_pipeline_stalled{process="cdc"} 1.0' in await cdc.metrics()

    cdc.broker.start().wait_ready(30)
    body = await cdc.wait_health(lambda code, b: code == 200 and b["status"] == "ok", 90)
    assert body["last_progress_age_seconds"] < 3
    text = await cdc.metrics()
    assert 'bank_pipeline_stalled{process="cdc"} 0.0' in text
    assert "bank_pipeline_last_progress_age_seconds" in text
    assert "bank_cdc_heartbeat_age_seconds" in text
