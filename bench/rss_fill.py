"""Fill the store with many events (batch transfers) before the RSS of every process is
read at the end of the run: "RSS of every process after 1,000,000 events" (issue #12)."""

from __future__ import annotations

import time
from collections import Counter

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
            stored, i = 0, 0
            errors: Counter[str] = Counter()  # why each failed batch failed
            while time.perf_counter() - t0 < max_seconds and errors.total() < 5:
                stored = await conn.fetchval("SELECT coalesce(max(global_position), 0) FROM events")
                if stored >= events:
                    break
                try:
                    error = await call(i)
                except aiohttp.ClientError as e:  # e.g. a connection reset: a failed batch
                    error = f"{type(e).__name__} ({e})"
                if error is not None:
                    errors[error] += 1
                i += 1
            seconds = time.perf_counter() - t0
    finally:
        await conn.close()
    return (
        f"{stored:,} events in the store after {seconds:.0f} s of batch transfers "
        f"(target {events:,}, {errors.total()} failed batches{_why(errors)})"
    )


def _why(errors: Counter[str]) -> str:
    return ": " + ", ".join(f"{n} {kind}" for kind, n in errors.most_common()) if errors else ""
