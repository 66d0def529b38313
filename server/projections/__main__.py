"""python -m server.projections [run|rebuild|check]

run (default)  consume account-events into the read models
rebuild        drop and rebuild the read models from the event store
check          compare account_view with the fold of each account's events;
               exits 1 on any difference
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import asyncpg
import uvloop

from runtime.settings import Settings

CHECK_LAG_RETRIES = 10


async def _rebuild(settings: Settings) -> int:
    from server.projections.rebuild import rebuild
    from server.readmodel.cache import QueryCache, pipeline_redis

    conn = await asyncpg.connect(settings.database_url)
    redis = pipeline_redis(settings)
    try:
        n = await rebuild(conn, QueryCache(redis))
    finally:
        await redis.aclose()
        await conn.close()
    print(f"rebuilt the read models from {n} events")
    return 0


async def _check(settings: Settings) -> int:
    from server.projections.check import find_differences

    conn = await asyncpg.connect(settings.database_url)
    try:
        report = await find_differences(conn)
        # On a running stack the worker may simply not have caught up yet:
        # give it a few seconds before calling a lagging view a difference.
        for _ in range(CHECK_LAG_RETRIES):
            if not report.behind or report.wrong:
                break
            await asyncio.sleep(1.0)
            report = await find_differences(conn)
    finally:
        await conn.close()
    diffs = report.differences
    for d in diffs[:200]:
        print(d)
    if len(diffs) > 200:
        print(f"... and {len(diffs) - 200} more")
    print(
        f"checked {report.checked} accounts: {len(diffs)} difference(s)"
        f" ({len(report.wrong)} account(s) wrong, {len(report.behind)} behind the store)"
    )
    return 1 if diffs else 0


async def _run(settings: Settings) -> int:
    from server.projections.worker import run_worker

    task = asyncio.current_task()
    assert task is not None  # uvloop.run runs _run as a task
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await run_worker(settings)
    except asyncio.CancelledError:
        pass
    return 0


def main(argv: list[str]) -> int:
    from runtime.observability.process import setup_process

    settings = Settings.from_env()
    setup_process("projections", settings)  # JSON logs on stderr, tracing if configured
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    command = argv[0] if argv else "run"
    commands = {"run": _run, "rebuild": _rebuild, "check": _check}
    if command not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    # uvloop: the worker's socket writes cost a quarter of its samples on asyncio's loop
    return uvloop.run(commands[command](settings))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
