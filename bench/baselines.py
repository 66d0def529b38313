"""The same deposit and transfer workload on the same PostgreSQL, without our stack.

- raw_copy: the physical limit: COPY (binary) of the same event and outbox rows
  into tables of the same shape (LIKE events/outbox INCLUDING ALL), no validation,
  rows built before the clock starts, 2 connections in parallel.
- raw_insert: one single-row INSERT per event row (events shape), one transaction
  per command (a transfer is 3 rows), 32 connections.
- crud: naive CRUD straight on asyncpg (no HTTP): ``UPDATE accounts SET balance =
  balance + $1 ... RETURNING`` per command; a transfer is two UPDATEs in id order
  in one transaction with a funds guard.
- eventsourcing: the eventsourcing library with its PostgreSQL persistence
  (psycopg 3), a BankAccount aggregate, called in-process from 16 threads (no HTTP).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg
import msgspec

from bench.loadgen import Call, closed_loop, open_loop
from bench.stats import Summary, summarize, summarize_run
from shared.events import (
    Event,
    EventMetadata,
    MoneyDeposited,
    MoneyTransferredIn,
    MoneyTransferredOut,
    RecordedEvent,
    TransferCompleted,
    event_type_name,
)
from shared.topics import topic_for_stream_type

_enc = msgspec.json.Encoder()

SETUP_SQL = """
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.copy_events (LIKE public.events INCLUDING ALL);
-- Our store once kept a second copy of each event in an outbox; while it does, so
-- does the physical limit (one row per fact once the outbox is gone).
DO $$ BEGIN
  IF to_regclass('public.outbox') IS NOT NULL THEN
    CREATE TABLE bench.copy_outbox (LIKE public.outbox INCLUDING ALL);
  END IF;
END $$;
CREATE TABLE bench.insert_events (LIKE public.events INCLUDING ALL);
CREATE TABLE bench.accounts (id uuid PRIMARY KEY, balance bigint NOT NULL,
                             version integer NOT NULL DEFAULT 0);
"""
EVENT_COLS = [
    "event_id",
    "stream_id",
    "stream_type",
    "version",
    "event_type",
    "payload",
    "metadata",
    "recorded_at",
]
OUTBOX_COLS = [
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "topic",
    "key",
    "event_type",
    "payload",
    "headers",
]


class _Streams:
    """Account streams with their versions and balances, to make realistic rows."""

    def __init__(self, n: int, seed: int = 1) -> None:
        rnd = random.Random(seed)
        self.rnd = rnd
        self.ids = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(n)]
        self.version = {a: 1 for a in self.ids}
        self.balance = {a: 10**12 for a in self.ids}
        self.position = 0

    def rows(
        self,
        stream: uuid.UUID,
        stream_type: str,
        version: int,
        event: Event,
        meta: EventMetadata,
        now: datetime,
    ) -> tuple[tuple, tuple]:  # type: ignore[type-arg]
        self.position += 1
        eid = uuid.uuid4()
        name = event_type_name(event)
        recorded = RecordedEvent(
            event_id=eid,
            stream_id=stream,
            stream_type=stream_type,
            version=version,
            position=self.position,
            recorded_at=now,
            metadata=meta,
            event=event,
        )  # type: ignore[arg-type]
        ev = (
            eid,
            stream,
            stream_type,
            version,
            name,
            _enc.encode(event).decode(),
            _enc.encode(meta).decode(),
            now,
        )
        headers = _enc.encode(
            {
                "event_id": str(eid),
                "event_type": name,
                "version": str(version),
                "trace_id": meta.trace_id,
            }
        ).decode()
        ob = (
            eid,
            stream_type,
            stream,
            topic_for_stream_type(stream_type),
            str(stream),
            name,
            _enc.encode(recorded).decode(),
            headers,
        )
        return ev, ob

    def command(self, kind: str) -> list[tuple[tuple, tuple]]:  # type: ignore[type-arg]
        """The rows one deposit (1 event) or one transfer (3 events) appends."""
        now = datetime.now(UTC)
        meta = EventMetadata(
            actor_id="bench", idempotency_key=str(uuid.uuid4()), trace_id=uuid.uuid4().hex
        )
        if kind == "deposits":
            a = self.rnd.choice(self.ids)
            self.version[a] += 1
            self.balance[a] += 100
            e = MoneyDeposited(
                account_id=a,
                transaction_id=uuid.uuid4(),
                amount=100,
                currency="EUR",
                balance_after=self.balance[a],
            )
            return [self.rows(a, "account", self.version[a], e, meta, now)]
        a, b = self.rnd.sample(self.ids, 2)
        t = uuid.uuid4()
        self.version[a] += 1
        self.version[b] += 1
        self.balance[a] -= 1
        self.balance[b] += 1
        out = MoneyTransferredOut(
            account_id=a,
            transfer_id=t,
            to_account_id=b,
            amount=1,
            currency="EUR",
            balance_after=self.balance[a],
        )
        into = MoneyTransferredIn(
            account_id=b,
            transfer_id=t,
            from_account_id=a,
            amount=1,
            currency="EUR",
            balance_after=self.balance[b],
        )
        done = TransferCompleted(
            transfer_id=t, from_account_id=a, to_account_id=b, amount=1, currency="EUR"
        )
        return [
            self.rows(a, "account", self.version[a], out, meta, now),
            self.rows(b, "account", self.version[b], into, meta, now),
            self.rows(t, "transfer", 1, done, meta, now),
        ]


async def setup(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(SETUP_SQL)


async def raw_copy(
    pool: asyncpg.Pool, kind: str, commands: int, batch: int = 8190, parallel: int = 2
) -> Summary:
    async with pool.acquire() as conn:
        with_outbox = await conn.fetchval("SELECT to_regclass('bench.copy_outbox') IS NOT NULL")
    streams = _Streams(1000, seed=11 if kind == "deposits" else 12)  # distinct streams per run
    batches = []
    for start in range(0, commands, batch):
        evs, obs = [], []
        for _ in range(min(batch, commands - start)):
            for ev, ob in streams.command(kind):
                evs.append(ev)
                obs.append(ob)
        batches.append((evs, obs))
    latencies: list[float] = []
    queue = list(batches)

    async def worker() -> None:
        async with pool.acquire() as conn:
            while queue:
                evs, obs = queue.pop()
                t0 = time.perf_counter()
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "copy_events", schema_name="bench", records=evs, columns=EVENT_COLS
                    )
                    if with_outbox:
                        await conn.copy_records_to_table(
                            "copy_outbox", schema_name="bench", records=obs, columns=OUTBOX_COLS
                        )
                latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    seconds = time.perf_counter() - t0
    s = summarize(
        scenario=kind,
        system="raw_copy",
        mode="saturation",
        latencies=latencies,
        errors=Counter(),
        seconds=seconds,
        ops_per_call=batch,
        concurrency=parallel,
        unit=kind,
        note=f"COPY binary, batches of {batch} commands, rows prebuilt",
    )
    s.ok = commands
    s.throughput = round(commands / seconds, 1)
    return s


def _raw_insert_call(pool: asyncpg.Pool, kind: str) -> Call:
    streams = _Streams(1000, seed=21 if kind == "deposits" else 22)  # distinct streams per run
    sql = (
        "INSERT INTO bench.insert_events (event_id, stream_id, stream_type, version,"
        " event_type, payload, metadata, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
    )

    async def call(i: int) -> str | None:
        rows = [ev for ev, _ in streams.command(kind)]
        async with pool.acquire() as conn:
            if len(rows) == 1:
                await conn.execute(sql, *rows[0])
            else:
                async with conn.transaction():
                    for r in rows:
                        await conn.execute(sql, *r)
        return None

    return call


async def _crud_accounts(pool: asyncpg.Pool, n: int) -> list[uuid.UUID]:
    ids = sorted(uuid.uuid4() for _ in range(n))
    await pool.executemany(
        "INSERT INTO bench.accounts (id, balance) VALUES ($1, $2)", [(a, 10**12) for a in ids]
    )
    return ids


def _crud_call(pool: asyncpg.Pool, kind: str, ids: list[uuid.UUID]) -> Call:
    rnd = random.Random(3)
    up = (
        "UPDATE bench.accounts SET balance = balance + $1, version = version + 1"
        " WHERE id = $2 RETURNING balance"
    )
    debit = (
        "UPDATE bench.accounts SET balance = balance - $1, version = version + 1"
        " WHERE id = $2 AND balance >= $1 RETURNING balance"
    )

    async def deposit(i: int) -> str | None:
        got = await pool.fetchval(up, 100, rnd.choice(ids))
        return None if got is not None else "not_found"

    async def transfer(i: int) -> str | None:
        a, b = rnd.sample(ids, 2)
        async with pool.acquire() as conn, conn.transaction():
            for acc in sorted((a, b)):  # lock order by id
                got = await conn.fetchval(debit if acc == a else up, 1, acc)
                if got is None:
                    raise RuntimeError("insufficient funds")
        return None

    return deposit if kind == "deposits" else transfer


def _es_env(admin_url: str) -> dict[str, str]:
    u = urlsplit(admin_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": u.path.lstrip("/"),
        "POSTGRES_HOST": u.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(u.port or 5432),
        "POSTGRES_USER": u.username or "bank",
        "POSTGRES_PASSWORD": u.password or "",
        "POSTGRES_SCHEMA": "bench",
        "POSTGRES_POOL_SIZE": "16",
        "POSTGRES_MAX_OVERFLOW": "0",
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "CREATE_TABLE": "y",
    }


def _es_calls(admin_url: str, n_accounts: int) -> tuple[dict[str, Call], ThreadPoolExecutor]:
    from bench.es_bank import Bank

    bank = Bank(env=_es_env(admin_url))
    ids = [bank.open_account("bench") for _ in range(n_accounts)]
    for a in ids:
        bank.deposit(a, 10**9)
    rnd = random.Random(4)
    executor = ThreadPoolExecutor(16)
    loop = asyncio.get_running_loop()

    def retrying(fn, *args) -> None:  # type: ignore[no-untyped-def]
        from eventsourcing.persistence import IntegrityError

        for _ in range(16):
            try:
                fn(*args)
                return
            except IntegrityError:  # lost an optimistic race: re-read and retry
                continue
        raise RuntimeError("conflict retries exhausted")

    async def deposit(i: int) -> str | None:
        await loop.run_in_executor(executor, retrying, bank.deposit, rnd.choice(ids), 100)
        return None

    async def transfer(i: int) -> str | None:
        a, b = rnd.sample(ids, 2)
        await loop.run_in_executor(executor, retrying, bank.transfer, a, b, 1)
        return None

    return {"deposits": deposit, "transfers_uniform": transfer}, executor


async def _fixed_and_saturation(
    report,
    system: str,
    name: str,
    call: Call,
    *,
    concurrency: int,
    fixed_rate: float,
    fixed_seconds: float,
    duration: float,
    note: str,
) -> None:  # type: ignore[no-untyped-def]
    """A baseline's two runs of one scenario: at the fixed rate, then at saturation."""
    run = await open_loop(call, rate=fixed_rate, duration=fixed_seconds, drain=10)
    report(
        f"{system}/{name}/fixed",
        summarize_run(
            run,
            scenario=name,
            system=system,
            mode="fixed",
            offered_rate=fixed_rate,
            note=note,
        ),
        "",
    )
    run = await closed_loop(call, concurrency=concurrency, duration=duration, max_calls=10**6)
    report(
        f"{system}/{name}/saturation",
        summarize_run(
            run,
            scenario=name,
            system=system,
            mode="saturation",
            concurrency=concurrency,
            note=note,
        ),
        "",
    )


async def run_all(
    admin_url: str,
    *,
    duration: float,
    fixed_rate: float,
    fixed_seconds: float,
    copy_commands: int,
    report,
) -> None:  # type: ignore[no-untyped-def]
    """Run every baseline; ``report(step, summary_or_None, reason)`` after each step."""
    pool = await asyncpg.create_pool(admin_url, min_size=4, max_size=32)
    try:
        await setup(pool)
        for kind, name in (("deposits", "deposits"), ("transfers", "transfers_uniform")):
            s = await raw_copy(
                pool, kind, copy_commands if kind == "deposits" else copy_commands // 3
            )
            s.scenario = name
            report(f"raw_copy/{name}", s, "")
        for name in ("deposits", "transfers_uniform"):
            kind = "deposits" if name == "deposits" else "transfers"
            run = await closed_loop(
                _raw_insert_call(pool, kind), concurrency=32, duration=duration, max_calls=10**6
            )
            report(
                f"raw_insert/{name}",
                summarize_run(
                    run,
                    scenario=name,
                    system="raw_insert",
                    mode="saturation",
                    concurrency=32,
                    note="single-row INSERT per event, one transaction per command",
                ),
                "",
            )
        ids = await _crud_accounts(pool, 1000)
        for name in ("deposits", "transfers_uniform"):
            kind = "deposits" if name == "deposits" else "transfers"
            await _fixed_and_saturation(
                report,
                "crud",
                name,
                _crud_call(pool, kind, ids),
                concurrency=32,
                fixed_rate=fixed_rate,
                fixed_seconds=fixed_seconds,
                duration=duration,
                note="asyncpg direct, no HTTP",
            )
    finally:
        await pool.close()
    try:
        calls, executor = _es_calls(admin_url, 200)  # blocking setup: nothing else runs now
    except Exception as exc:  # noqa: BLE001 - report why the library could not run
        for step in ("deposits", "transfers_uniform"):
            report(f"eventsourcing/{step}", None, f"eventsourcing failed to start: {exc!r}")
        return
    try:
        for name, call in calls.items():
            await _fixed_and_saturation(
                report,
                "eventsourcing",
                name,
                call,
                concurrency=16,
                fixed_rate=fixed_rate,
                fixed_seconds=fixed_seconds,
                duration=duration,
                note="eventsourcing 9.5.6 in-process, 16 threads, no HTTP",
            )
    finally:
        executor.shutdown(wait=False)
