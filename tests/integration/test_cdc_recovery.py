"""The connector recovers by itself when PostgreSQL restarts under it (issue #11).

The story: deposits flow through the session's real chain (events -> CDC ->
Kafka -> projection worker -> read models); PostgreSQL is killed (SIGKILL of
the postmaster) or shut down fast, and started again. Without anyone touching
the connector, its next session resumes from the slot and the read models
catch up with every deposit, each posted once.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest

from bench.cdc_load import Appender, append_batch
from cdc.readers_hold import HOLD_AT_MOST_SECONDS
from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack


async def append(db: asyncpg.Pool, appender: Appender, batches: int, size: int) -> None:
    async with db.acquire() as conn:
        for _ in range(batches):
            await append_batch(conn, appender.next_events(size), trace_id="pg-restart")


async def read_models_match(db: asyncpg.Pool, appender: Appender) -> str | None:
    """None when every account's view equals what was appended, else what differs."""
    accounts = appender.accounts
    views = {
        r["account_id"]: (r["version"], r["balance"])
        for r in await db.fetch(
            "SELECT account_id, version, balance FROM account_view WHERE account_id = ANY($1)",
            accounts,
        )
    }
    postings = {
        r["account_id"]: (r["n"], r["total"])
        for r in await db.fetch(
            "SELECT account_id, count(*) AS n, sum(amount) AS total FROM transaction_view"
            " WHERE account_id = ANY($1) GROUP BY account_id",
            accounts,
        )
    }
    for a in accounts:
        want_view = (appender.versions[a], appender.balances[a])
        want_postings = (appender.versions[a] - 1, appender.balances[a])  # v1 opens the account
        if views.get(a) != want_view:
            return f"account_view {a}: {views.get(a)} != {want_view}"
        if appender.versions[a] > 1 and postings.get(a) != want_postings:
            return f"transaction_view {a}: {postings.get(a)} != {want_postings}"
    return None


async def wait_read_models(
    db: asyncpg.Pool, appender: Appender, projections: ManagedProcess, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while (diff := await read_models_match(db, appender)) is not None:
        if not projections.alive:
            # The worker's own recovery from a PostgreSQL restart is issue #11 item
            # 5 (the supervisor restarts it in the running stack); this test is
            # about the connector, so stand in for the supervisor.
            projections.start().wait_ready(60)
        assert time.monotonic() < deadline, f"read models behind: {diff}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("mode", ["kill", "fast"])
async def test_the_read_models_catch_up_after_postgresql_restarts_under_the_connector(
    mode: str,
    stack: EmbeddedStack,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
) -> None:
    appender = Appender(accounts=20, seed=uuid.uuid4().int)
    connector_pid = cdc.pid
    await append(db, appender, batches=5, size=40)
    await wait_read_models(db, appender, projections, timeout=60)

    await append(db, appender, batches=5, size=40)  # still in flight when the server goes
    started = time.monotonic()
    await asyncio.to_thread(stack.restart_postgres, mode)
    # A fast shutdown waits for the connector to confirm what it was sent; on this
    # broker the connector stops waiting for the consumers once PostgreSQL goes.
    took = time.monotonic() - started
    assert took < HOLD_AT_MOST_SECONDS / 3, f"the restart waited {took:.1f}s for the hold"
    await db.expire_connections()
    await append(db, appender, batches=5, size=40)

    await wait_read_models(db, appender, projections, timeout=90)
    assert cdc.alive and cdc.pid == connector_pid, "the connector must recover by itself"

    # Its new session streams on: a later deposit reaches the read models too.
    await append(db, appender, batches=1, size=20)
    await wait_read_models(db, appender, projections, timeout=30)
    assert cdc.pid == connector_pid
