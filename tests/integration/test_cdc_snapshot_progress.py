"""A new slot's snapshot longer than the stall threshold is progress, not a stall: the
supervisor restarts a stalled connector, and a restarted one begins its snapshot again,
so a store whose snapshot outlasts the threshold (after a restore, docs/adr/0720, or a
lost slot) would never be streamed (cdc/health.py)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx

from infra.local.ports import free_port
from infra.local.procs import tcp_ready
from infra.local.stack import EmbeddedStack

STALL_SECONDS = 2
ROWS = 400_000  # about 7 s of snapshot here: well past the threshold


async def test_a_snapshot_longer_than_the_stall_threshold_is_never_stalled(
    own_stack: EmbeddedStack,
) -> None:
    own_stack.migrate()
    db = await asyncpg.connect(own_stack.admin_database_url)
    try:
        await db.execute(  # 1,500 accounts of 100 deposits each, as a restored store has
            "INSERT INTO events (event_id, stream_id, stream_type, version, event_type, payload)"
            " SELECT gen_random_uuid(),"
            "  ('00000000-0000-4000-8000-' || lpad(to_hex(i / 100), 12, '0'))::uuid,"
            "  'account', i % 100 + 1, 'MoneyDeposited', '{\"amount\": 1}'"
            " FROM generate_series(0, $1 - 1) AS i",
            ROWS,
        )
        port = free_port()
        cdc = own_stack.spawn(
            "cdc-snapshot",
            ["-m", "cdc"],
            ready=tcp_ready(port),
            port=port,
            extra_env={
                "BANK_PIPELINE_STALL_SECONDS": str(STALL_SECONDS),
                "BANK_CDC_METRICS_PORT": str(port),
            },
            wait=False,
        )
        seen: list[str] = []
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                assert cdc.alive, cdc.log_tail()
                done = await db.fetchval(
                    "SELECT to_regclass('cdc_snapshots') IS NOT NULL"
                ) and await db.fetchval("SELECT count(*) FROM cdc_snapshots")
                if done:
                    break
                try:
                    r = await http.get(f"http://127.0.0.1:{port}/health")
                    seen.append(r.json()["status"])
                except httpx.HTTPError:
                    pass  # not listening yet
                assert time.monotonic() - started < 180, "the snapshot did not end"
                await asyncio.sleep(0.1)
        took = time.monotonic() - started
    finally:
        await db.close()
    # The snapshot outlasted the threshold (else this proves nothing), and its health
    # never said "stalled" on the way.
    assert took > STALL_SECONDS + 1, took
    assert seen and "stalled" not in seen, (took, seen)
