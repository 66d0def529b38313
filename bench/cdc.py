"""CDC benchmark: commit -> Kafka ack throughput and latency.

    python -m bench.cdc                 # on its own throw-away embedded stack
    python -m bench.cdc --external      # on the stack in BANK_* (own slot/publication)
    python -m bench.cdc --client rdkafka --skip-latency    # librdkafka (docs/adr/0100)

1. Throughput: 100,000 events appended in batches of 1,000 (one transaction per
   batch, events rows only, as the write side does since migration 0004: each
   event is 2 Kafka records); events/s from the first commit to the Kafka ack of
   the last transaction. The batches are built and encoded before the clock
   starts, so the appender spends its CPU on sending them, not on making them.
2. Latency: a steady 1,000 events/s, one event per transaction, for 15 s; p50 /
   p99 / max of commit -> ack, measured inside the connector (commit timestamp
   from the WAL, ack time when the last batch of the transaction was acked with
   acks=all).
3. Catch-up: 100,000 events committed while the connector is stopped; events/s
   from PostgreSQL starting its walsender to the ack of the last one (the
   connector's own capacity, without the load generator competing for the 2 cores).

The connector runs in its own process (as in production); it reports each
transaction's (commit time, ack time) to this process through a queue.
Results are printed and written to bench/results/cdc.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import queue
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.cdc_load import Appender, append_batch, append_encoded, event_rows
from shared.events import EventMetadata

RESULTS = Path(__file__).resolve().parent / "results" / "cdc.json"


def _connector_process(env: dict[str, str], out: Any, stop: Any, client: str) -> None:
    os.environ.update(env)
    import logging

    from cdc.connector import Connector
    from cdc.publisher import Publisher
    from runtime.settings import Settings

    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    acked: list[tuple[int, int]] = []

    async def main() -> None:
        stop_event = asyncio.Event()
        publisher = Publisher
        if client == "rdkafka":
            from cdc.rdkafka_publisher import RdKafkaPublisher

            publisher = RdKafkaPublisher
        connector = Connector(
            settings, on_commit_acked=lambda ts, ack: acked.append((ts, ack)), publisher=publisher
        )

        async def relay() -> None:
            while True:
                await asyncio.sleep(0.05)
                out.put(("cpu", time.process_time()))
                if acked:
                    out.put(("acks", acked[:]))
                    acked.clear()
                if stop.is_set():
                    stop_event.set()
                    return

        relay_task = asyncio.create_task(relay())
        await connector.run(stop_event)
        relay_task.cancel()
        if acked:
            out.put(("acks", acked[:]))

    import uvloop

    uvloop.run(main())  # as cdc/__main__.py does


class Acks:
    def __init__(self, q: Any) -> None:
        self.q = q
        self.pairs: list[tuple[int, int]] = []
        self.cpu = 0.0  # the connector process's CPU seconds, last report
        # Its first report after ``restart``: what it spent starting Python and
        # importing, before it connected.
        self.first_cpu: float | None = None

    def restart(self) -> None:
        """A new connector process: its CPU counts from zero (the stopped one's last
        reports read first, so that none is taken for the new one's)."""
        self.pump()
        self.cpu = 0.0
        self.first_cpu = None

    def pump(self) -> None:
        while True:
            try:
                kind, value = self.q.get_nowait()
            except queue.Empty:
                return
            if kind == "cpu":
                self.cpu = value
                if self.first_cpu is None:
                    self.first_cpu = value
            else:
                self.pairs.extend(value)

    async def cpu_now(self) -> float:
        await asyncio.sleep(0.12)
        self.pump()
        return self.cpu

    def committed_since(self, since_us: int) -> list[tuple[int, int]]:
        """The acks of transactions committed at or after ``since_us``: a connector that
        starts again sends again what its slot had not confirmed (at least once), and
        those acks are not the ones waited for."""
        return [p for p in self.pairs if p[0] >= since_us]

    async def wait_count(self, n: int, timeout: float, since_us: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while (got := len(self.committed_since(since_us))) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {got} of {n} transactions acked")
            await asyncio.sleep(0.01)
            self.pump()


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def _walsender(conn: asyncpg.Connection, slot: str) -> tuple[int, float] | None:
    """The pid of the walsender streaming ``slot`` and when it started (epoch seconds)."""
    row = await conn.fetchrow(
        "SELECT a.pid, extract(epoch FROM a.backend_start)::float8 AS started"
        " FROM pg_replication_slots s JOIN pg_stat_activity a ON a.pid = s.active_pid"
        " WHERE s.slot_name = $1",
        slot,
    )
    return None if row is None else (row["pid"], row["started"])


async def wait_streaming(dsn: str, slot: str, timeout: float = 60) -> tuple[int, float]:
    """Once a connector streams ``slot``: its walsender's pid and start (``_walsender``)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while (walsender := await _walsender(conn, slot)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the connector did not start streaming")
            await asyncio.sleep(0.05)
        return walsender
    finally:
        await conn.close()


async def throughput(dsn: str, acks: Acks, total: int, batch: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    appender = Appender(accounts=1000)
    await append_batch(conn, appender.next_events(1))  # warm up the pipeline
    await acks.wait_count(1, 60)
    acks.pairs.clear()
    # The rows are built before the clock starts: the appender's own CPU (building
    # and encoding them, as much as the connector's per event) is not what this
    # measures, and on two shared cores it would be taken from the connector.
    meta = EventMetadata(trace_id="bench")
    documents = [event_rows(appender.next_events(batch), meta)[2] for _ in range(total // batch)]
    cpu0 = await acks.cpu_now()
    t0 = time.time()
    for document in documents:
        await append_encoded(conn, document)
    append_s = time.time() - t0
    await acks.wait_count(total // batch, 300)
    cpu = await acks.cpu_now() - cpu0
    await conn.close()
    first_commit = min(p[0] for p in acks.pairs) / 1e6
    last_ack = max(p[1] for p in acks.pairs) / 1e6
    elapsed = last_ack - first_commit
    return {
        "events": total,
        "batch_size": batch,
        "kafka_records": total * 2,
        "append_seconds": round(append_s, 3),
        "append_events_per_s": round(total / append_s),
        "first_commit_to_last_ack_s": round(elapsed, 3),
        "events_per_s": round(total / elapsed),
        **_cpu(cpu, total),
    }


def _cpu(seconds: float, events: int) -> dict[str, Any]:
    """CPU the connector process used: what its capacity would be on one free core."""
    return {
        "connector_cpu_s": round(seconds, 3),
        "connector_cpu_us_per_event": round(seconds / events * 1e6, 1),
        "events_per_cpu_second": round(events / seconds) if seconds else None,
    }


async def steady(dsn: str, acks: Acks, rate: int, seconds: float, conns: int) -> dict[str, Any]:
    pool = [await asyncpg.connect(dsn) for _ in range(conns)]
    appenders = [Appender(accounts=50) for _ in range(conns)]
    for c, a in zip(pool, appenders, strict=True):
        await append_batch(c, a.next_events(1))
    await acks.wait_count(conns, 60)
    acks.pairs.clear()
    interval = conns / rate
    n_each = int(seconds * rate / conns)
    start = time.monotonic() + 0.05
    lateness: list[float] = []

    async def writer(i: int) -> None:
        c, a = pool[i], appenders[i]
        for k in range(n_each):
            due = start + (k + i / conns) * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lateness.append(-delay)
            await append_batch(c, a.next_events(1))

    t0 = time.monotonic()
    await asyncio.gather(*(writer(i) for i in range(conns)))
    wall = time.monotonic() - t0
    await acks.wait_count(n_each * conns, 60)
    for c in pool:
        await c.close()
    # Skip the first second (JIT-free, but caches and TCP windows warm up).
    first = min(p[0] for p in acks.pairs)
    lat_ms = [(ack - ts) / 1000 for ts, ack in acks.pairs if ts - first > 1_000_000]
    return {
        "target_events_per_s": rate,
        "achieved_events_per_s": round(n_each * conns / wall),
        "seconds": seconds,
        "writer_connections": conns,
        "transactions": len(acks.pairs),
        "p50_ms": round(_pct(lat_ms, 50), 2),
        "p90_ms": round(_pct(lat_ms, 90), 2),
        "p99_ms": round(_pct(lat_ms, 99), 2),
        "max_ms": round(max(lat_ms), 2),
        "writer_late_count": len([x for x in lateness if x > 0.002]),
    }


def _proc_cpu(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return None


async def catch_up(
    dsn: str,
    acks: Acks,
    start: Callable[[], None],
    slot: str,
    total: int,
    batch: int,
    broker_pid: int | None,
) -> dict[str, Any]:
    """The connector's own capacity: 100,000 events committed while it is stopped,
    then the time from its walsender's start to the ack of the last one.

    Only the acks of the backlog's own transactions count: a connector that starts
    again first sends again what its slot had not confirmed, and the first 100 acks
    of those once ended the wait at 980,000 "events/s" (on the bench's stack, whose
    stopped consumer groups held the slot, cdc/readers_hold.py). The clock starts
    when PostgreSQL started the walsender (``backend_start``), not when a poll here
    saw the slot active, by which time a fast connector has streamed part of the
    backlog. The connector's CPU counts from its first report (Python started,
    nothing connected), the walsender's is all of its own (it is new), the broker's
    from before the start."""
    conn = await asyncpg.connect(dsn)
    appender = Appender(accounts=1000)
    appended_from_us = int(time.time() * 1e6)
    for _ in range(total // batch):
        await append_batch(conn, appender.next_events(batch))
    deadline = time.monotonic() + 30
    while await _walsender(conn, slot) is not None:  # the last phase's has ended
        if time.monotonic() > deadline:
            raise TimeoutError(f"slot {slot} is still streaming to the stopped connector")
        await asyncio.sleep(0.05)
    await conn.close()
    acks.pairs.clear()
    broker0 = _proc_cpu(broker_pid)
    t0 = time.time()
    start()
    walsender, streaming_at = await wait_streaming(dsn, slot)
    await acks.wait_count(total // batch, 300, since_us=appended_from_us)
    last_ack = max(p[1] for p in acks.committed_since(appended_from_us)) / 1e6
    sent_again = len(acks.pairs) - total // batch
    cpu = await acks.cpu_now() - (acks.first_cpu or 0.0)
    wal_s, broker1 = _proc_cpu(walsender), _proc_cpu(broker_pid)
    extra: dict[str, Any] = {}
    if wal_s is not None and broker0 is not None and broker1 is not None:
        broker_s = broker1 - broker0
        total_us = (cpu + wal_s + broker_s) / total * 1e6
        extra = {
            "walsender_cpu_us_per_event": round(wal_s / total * 1e6, 1),
            "broker_cpu_us_per_event": round(broker_s / total * 1e6, 1),
            "pipeline_cpu_us_per_event": round(total_us, 1),
            # What 2 cores of our own would sustain: the connector is one
            # thread (one core at most), and all three share the two cores.
            "capacity_on_2_free_cores_events_per_s": round(min(total / cpu, 2e6 / total_us)),
        }
    return {
        "events": total,
        "batch_size": batch,
        "kafka_records": total * 2,
        "start_to_streaming_s": round(streaming_at - t0, 3),
        "streaming_to_last_ack_s": round(last_ack - streaming_at, 3),
        "events_per_s": round(total / (last_ack - streaming_at)),
        **_cpu(cpu, total),
        **extra,
        "transactions_sent_again": sent_again,
    }


async def run(
    env: dict[str, str], args: argparse.Namespace, broker_pid: int | None = None
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    acks = Acks(q)
    dsn = env["BANK_ADMIN_DATABASE_URL"]
    slot = env.get("BANK_CDC_SLOT", "bank_cdc")
    procs: list[tuple[Any, Any]] = []

    def start() -> None:
        stop = ctx.Event()
        proc = ctx.Process(target=_connector_process, args=(env, q, stop, args.client), daemon=True)
        proc.start()
        procs.append((proc, stop))

    def stop_all() -> None:
        for proc, stop in procs:
            stop.set()
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        procs.clear()

    result: dict[str, Any] = {"load_average_before": os.getloadavg()}
    try:
        start()
        await wait_streaming(dsn, slot)
        if not args.skip_latency:
            result["latency"] = await steady(dsn, acks, args.rate, args.seconds, args.writers)
            print("latency:", json.dumps(result["latency"]), flush=True)
        result["throughput"] = await throughput(dsn, acks, args.events, args.batch)
        print(
            "throughput (appending while streaming):", json.dumps(result["throughput"]), flush=True
        )
        stop_all()
        acks.restart()
        result["catch_up"] = await catch_up(
            dsn, acks, start, slot, args.events, args.batch, broker_pid
        )
        print("catch-up (connector capacity):", json.dumps(result["catch_up"]), flush=True)
        result["load_average_after"] = os.getloadavg()
        return result
    finally:
        stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--external", action="store_true", help="use the stack in BANK_* variables")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument(
        "--client", choices=("aiokafka", "rdkafka"), default="aiokafka", help="Kafka client"
    )
    parser.add_argument("--skip-latency", action="store_true", help="throughput phases only")
    parser.add_argument(
        "--out", type=Path, help=f"results file (default {RESULTS}, or cdc_<client>.json beside it)"
    )
    args = parser.parse_args()

    stack = None
    data_dir = None
    if args.external:
        from runtime.settings import Settings

        s = Settings.from_env()
        env = {
            "BANK_ADMIN_DATABASE_URL": s.admin_database_url,
            "BANK_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "BANK_CDC_SLOT": "bank_cdc_bench",
            "BANK_CDC_PUBLICATION": "bank_cdc_bench_pub",
            # A measuring connector beside the stack's own: it must not recycle the
            # stack's topics (cdc/recycle.py), nor hold its stream to do so.
            "BANK_KAFKA_RECYCLE_AFTER_BATCHES": "0",
            "BANK_KAFKA_RECYCLE_AFTER_MIB": "0",
            # Nor hold its own throw-away slot for the stack's consumer groups, which
            # are stopped (cdc/readers_hold.py): its catch-up would begin by sending
            # again every transaction of the phases before it.
            "BANK_KAFKA_MEMORY_ONLY": "0",
        }
    else:
        from infra.local.ports import StackPorts
        from infra.local.stack import EmbeddedStack

        data_dir = tempfile.mkdtemp(prefix="bank-bench-")
        os.chmod(data_dir, 0o755)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("BANK_")}
        stack = EmbeddedStack(
            data_dir, StackPorts.free(), environ=environ, ephemeral=True, recycle_topics=False
        )
        stack.start()
        stack.migrate()
        env = stack.env()
    try:
        broker = stack.processes.get("kafka") if stack is not None else None
        result = asyncio.run(run(env, args, broker.pid if broker is not None else None))
    finally:
        if stack is not None:
            stack.stop()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "stack": "external" if args.external else "embedded (PostgreSQL 18 + Tansu, throw-away)",
    }
    result["kafka_client"] = args.client
    result["targets"] = {"p99_ms_at_1000_per_s": 20, "events_per_s": 30_000}
    out = args.out or (
        RESULTS if args.client == "aiokafka" else RESULTS.with_name(f"cdc_{args.client}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
