"""Which way to read the WAL: streaming replication or polling the slot?

    python -m bench.cdc_paths            # on a throw-away embedded stack

Both paths read the same pgoutput (protocol 1) changes of a scratch table and
decode them with cdc.pgoutput; neither talks to Kafka, so this isolates the
read side:

* streaming: psycopg2 ``LogicalReplicationConnection``, ``read_message`` driven
  by ``loop.add_reader`` (what cdc/reader.py does);
* polling: asyncpg, ``pg_logical_slot_peek_binary_changes`` every 5 ms, then
  ``pg_replication_slot_advance`` (peek + advance, because ``get`` would consume
  changes before Kafka acked them).

Measured: 100,000 rows committed at once -> all decoded (rows/s), and 500
single-row commits 5 ms apart -> commit-to-decoded latency p50/p99 (commit time
from the WAL's Begin message). Results: bench/results/cdc_paths.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from cdc.pgoutput import Begin, Insert, decode
from cdc.reader import ReplicationStream

RESULTS = Path(__file__).resolve().parent / "results" / "cdc_paths.json"
TABLE = "cdc_paths_probe"
PUB = "cdc_paths_pub"


class Sink:
    """Counts decoded inserts; records commit -> decoded latency per transaction."""

    def __init__(self) -> None:
        self.rows = 0
        self.latencies_ms: list[float] = []
        self.changed = asyncio.Event()

    def feed(self, payloads: list[bytes]) -> None:
        now_us = time.time_ns() // 1000
        for p in payloads:
            msg = decode(p)
            if type(msg) is Insert:
                self.rows += 1
            elif type(msg) is Begin:
                self.latencies_ms.append((now_us - msg.commit_ts_us) / 1000)
        self.changed.set()

    async def wait_rows(self, n: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.rows < n:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))


async def streaming(dsn: str, sink: Sink) -> Callable[[], Awaitable[None]]:
    def on_error(exc: BaseException) -> None:
        raise exc

    stream = ReplicationStream(
        dsn, "cdc_paths_stream", PUB, lambda batch: sink.feed([p for _, p in batch]), on_error
    )
    stream.connect()
    stream.create_slot()
    stream.start(asyncio.get_running_loop())

    async def stop() -> None:
        stream.close()

    return stop


async def polling(dsn: str, sink: Sink) -> Callable[[], Awaitable[None]]:
    conn = await asyncpg.connect(dsn)
    await conn.execute("SELECT pg_create_logical_replication_slot('cdc_paths_poll', 'pgoutput')")
    running = True

    async def loop() -> None:
        while running:
            rows = await conn.fetch(
                "SELECT lsn, data FROM pg_logical_slot_peek_binary_changes($1, NULL, 10000,"
                " 'proto_version', '1', 'publication_names', $2)",
                "cdc_paths_poll",
                PUB,
            )
            if rows:
                sink.feed([r["data"] for r in rows])
                await conn.execute(
                    "SELECT pg_replication_slot_advance($1, $2)", "cdc_paths_poll", rows[-1]["lsn"]
                )
            else:
                await asyncio.sleep(0.005)

    task = asyncio.create_task(loop())

    async def stop() -> None:
        nonlocal running
        running = False
        await task
        await conn.close()

    return stop


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def measure(
    dsn: str, path: Callable[[str, Sink], Awaitable[Callable[[], Awaitable[None]]]]
) -> dict[str, Any]:
    sink = Sink()
    stop = await path(dsn, sink)
    writer = await asyncpg.connect(dsn)
    try:
        t0 = time.monotonic()
        await writer.execute(
            f"INSERT INTO {TABLE} (payload)"
            " SELECT jsonb_build_object('n', g, 'pad', repeat('x', 80))"
            " FROM generate_series(1, 100000) g"
        )
        committed = time.monotonic()
        await sink.wait_rows(100_000)
        done = time.monotonic()
        sink.latencies_ms.clear()
        for i in range(500):
            await writer.execute(f"INSERT INTO {TABLE} (payload) VALUES ('{{\"i\": {i}}}')")
            await asyncio.sleep(0.005)
        await sink.wait_rows(100_500)
        lat = sink.latencies_ms
        return {
            "rows": 100_000,
            "insert_seconds": round(committed - t0, 3),
            "commit_to_all_decoded_s": round(done - committed, 3),
            "rows_per_s_after_commit": round(100_000 / (done - committed)),
            "single_row_commit_to_decoded_p50_ms": round(_pct(lat, 50), 2),
            "single_row_commit_to_decoded_p99_ms": round(_pct(lat, 99), 2),
        }
    finally:
        await stop()
        await writer.close()


async def run(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, payload jsonb)"
    )
    await conn.execute(f"DROP PUBLICATION IF EXISTS {PUB}")
    await conn.execute(f"CREATE PUBLICATION {PUB} FOR TABLE {TABLE}")
    result: dict[str, Any] = {}
    try:
        for name, path in (("streaming", streaming), ("polling_5ms", polling)):
            result[name] = await measure(dsn, path)
            print(name, json.dumps(result[name]), flush=True)
            for slot in ("cdc_paths_stream", "cdc_paths_poll"):
                await conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE slot_name = $1",
                    slot,
                )
    finally:
        await conn.execute(f"DROP PUBLICATION IF EXISTS {PUB}")
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await conn.close()
    return result


def main() -> None:
    from infra.local.ports import StackPorts
    from infra.local.stack import EmbeddedStack

    data_dir = tempfile.mkdtemp(prefix="bank-bench-")
    os.chmod(data_dir, 0o755)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BANK_")}
    stack = EmbeddedStack(data_dir, StackPorts.free(), environ=environ, ephemeral=True)
    try:
        stack.start()
        stack.migrate()
        result = asyncio.run(run(stack.admin_database_url))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    result["load_average_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
