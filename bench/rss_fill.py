"""Fill the store with many events (batch transfers) before the RSS of every process is
read at the end of the run: "RSS of every process after 1,000,000 events" (issue #12)."""

from __future__ import annotations

import time

import aiohttp
import asyncpg

from bench.fixtures import open_accounts, sign_up
from bench.http_scenarios import HttpScenarios

BATCH = 8190


async def fill(api: str, db_url: str, events: int, max_seconds: float) -> str:
    """Batch transfers until the store holds ``events`` events (or time runs out)."""
    conn = await asyncpg.connect(db_url)
    timeout = aiohttp.ClientTimeout(total=120)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            who = await sign_up(http, api, "rss")
            await open_accounts(http, api, who, 100)
            call = HttpScenarios(api, http, who).call("batch_transfers", batch_size=BATCH)
            t0 = time.perf_counter()
            stored, errors, i = 0, 0, 0
            while time.perf_counter() - t0 < max_seconds and errors < 5:
                stored = await conn.fetchval("SELECT coalesce(max(global_position), 0) FROM events")
                if stored >= events:
                    break
                try:
                    errors += (await call(i)) is not None
                except aiohttp.ClientError:  # e.g. a connection reset: a failed batch
                    errors += 1
                i += 1
            seconds = time.perf_counter() - t0
    finally:
        await conn.close()
    return (
        f"{stored:,} events in the store after {seconds:.0f} s of batch transfers "
        f"(target {events:,}, {errors} failed batches)"
    )
