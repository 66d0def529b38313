"""The write path without HTTP: deposits through the application layer's handlers,
straight onto PostgreSQL, from C concurrent tasks for D seconds.

Reports deposits/s, µs of CPU per deposit in this process (the write path's own
Python: command, decision, unit of work, asyncpg) and in PostgreSQL, and WAL bytes
per deposit, with the load average. Runs against the code of the tree it is run
from, so the same script measures before and after a change.

    .venv/bin/python -m bench.write_path_direct [--seconds 10] [--concurrency 32]
        [--group-commit true|false] [--accounts 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

import asyncpg
import psutil

from bench.stack import start_stack, stop_stack
from bench.write_cpu import cpu, postgres_procs, wal_lsn
from runtime.settings import Settings
from server.adapters.account_repository import AccountRepository
from server.application import handlers
from server.application.context import Actor, AppContext
from server.application.idempotency import IdempotencyKey, request_hash
from shared.api import MoneyMovementRequest, OpenAccountRequest
from shared.events import EventMetadata

try:  # where the audit record lives differs before and after the write-path change
    from server.application.audit import AuditRecord
except ImportError:  # pragma: no cover - the tree before
    from server.adapters.audit import AuditRecord  # type: ignore[no-redef]


async def drive(url: str, settings: Settings, args: argparse.Namespace, pgdata: str) -> dict:
    pool = await asyncpg.create_pool(url, min_size=4, max_size=settings.db_pool_max)
    ctx = AppContext(settings=settings, pool=pool, accounts=AccountRepository())
    owners = [Actor(uuid.uuid4()) for _ in range(args.accounts)]
    accounts = []
    for actor in owners:
        meta = EventMetadata(actor_id=str(actor.user_id))
        r = await handlers.open_account(
            ctx, actor, OpenAccountRequest(currency="EUR", name="bench"), None, meta
        )
        accounts.append((actor, uuid.UUID(json.loads(r.body)["id"])))
    req = MoneyMovementRequest(amount=100, description="direct")
    done = 0
    stop = False

    async def worker(n: int) -> None:
        nonlocal done
        while not stop:
            actor, account = accounts[(n + done) % len(accounts)]
            key = str(uuid.uuid4())
            idem = IdempotencyKey(str(actor.user_id), key, request_hash(f"deposit:{account}", req))
            meta = EventMetadata(actor_id=str(actor.user_id), idempotency_key=key)
            audit = AuditRecord(
                action="deposit_money", actor_id=actor.user_id, actor_role="customer"
            ).about_account(account)
            await handlers.deposit_money(ctx, actor, account, req, idem, meta, audit)
            done += 1

    me = psutil.Process()
    warm = [asyncio.create_task(worker(i)) for i in range(args.concurrency)]
    await asyncio.sleep(2)
    pg = postgres_procs(pgdata)
    w0, c0, p0, n0, t0 = (
        await wal_lsn(args.admin_url),
        cpu([me]),
        cpu(pg),
        done,
        time.perf_counter(),
    )
    load0 = os.getloadavg()
    await asyncio.sleep(args.seconds)
    w1, c1, p1, n1, t1 = (
        await wal_lsn(args.admin_url),
        cpu([me]),
        cpu(pg),
        done,
        time.perf_counter(),
    )
    load1 = os.getloadavg()
    stop = True
    await asyncio.gather(*warm)
    await pool.close()
    n = n1 - n0
    return {
        "group_commit": settings.group_commit,
        "deposits": n,
        "per_second": round(n / (t1 - t0), 1),
        "client_cpu_us_per_deposit": round((c1 - c0) / n * 1e6, 1),
        "postgres_cpu_us_per_deposit": round((p1 - p0) / n * 1e6, 1),
        "wal_bytes_per_deposit": round((w1 - w0) / n),
        "load": [round(load0[0], 2), round(load1[0], 2)],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--accounts", type=int, default=32)
    ap.add_argument("--group-commit", default="true,false")
    args = ap.parse_args()
    st = start_stack()
    try:
        args.admin_url = st.admin_database_url
        for gc in args.group_commit.split(","):
            settings = Settings.from_env(st.env(), group_commit=gc == "true")
            result = asyncio.run(drive(st.database_url, settings, args, str(st.postgres.pgdata)))
            print(json.dumps(result))
    finally:
        stop_stack(st)


if __name__ == "__main__":
    main()
