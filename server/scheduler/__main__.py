"""python -m server.scheduler [--once] [--clock-file PATH] [--interval SECONDS]

Pays the standing-order occurrences that are due (server/application/standing_order_payments.py)
and expires the pending holds whose timeout has passed (server/application/holds.py),
then sleeps ``--interval`` seconds and looks again. Any number of schedulers may run:
each order is claimed with FOR UPDATE SKIP LOCKED, each expiry runs under the key
``hold_expiry / <hold id>``. ``--clock-file`` takes the time from a file (an ISO date or
date-time: a controllable clock for tests); ``--once`` does what is due and exits.

Progress, not only liveness (docs/adr/0711): a running scheduler serves the "Pipeline
health" contract on ``scheduler_metrics_port`` (``GET /health``, 503 when stalled, and
the pipeline gauges on ``/metrics``; server/scheduler/progress.py), and the supervisor
restarts it when it is stalled. ``--once`` serves nothing: it exits when done.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import asyncpg

from runtime import consumer_health
from runtime.settings import Settings
from server.adapters.postgres.pool import (
    CONNECT_TIMEOUT_SECONDS,
    STATEMENT_TIMEOUT_SECONDS,
    create_pool,
)
from server.adapters.postgres.retry import CONNECTION_ERRORS
from server.scheduler.clock import Clock, FileClock, SystemClock
from server.scheduler.progress import TickProgress

log = logging.getLogger("bank.scheduler")
# How long an expired hold can keep its amount held (docs/adr/0715): a tick is two
# indexed queries when nothing is due.
TICK_SECONDS = 5.0


async def run(
    settings: Settings,
    clock: Clock,
    *,
    once: bool,
    progress: TickProgress,
) -> int:
    """Tick until cancelled (every ``progress.interval`` seconds), or once."""
    from server.application.context import AppContext
    from server.application.holds import expire_due, void_into_closed_due
    from server.application.standing_order_payments import pay_one_due

    # Bounded waits: a tick that gets no answer fails and the next one tries on a
    # new connection (a database that vanished without closing ours: a failover).
    pool = await create_pool(
        settings.database_url,
        min_size=1,
        max_size=4,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=STATEMENT_TIMEOUT_SECONDS,
    )
    ctx = AppContext(settings, pool)
    progress.record_started()
    try:
        while True:
            progress.record_tick_started()
            try:
                # Every occurrence due (missed ones included), each paid or refused once;
                # each one done is progress, so a long tick (the first of a month) is not
                # taken for a stuck one.
                today, done = clock.today(), 0
                while await pay_one_due(ctx, today):
                    done += 1
                    progress.record_step()
                if done:
                    log.info("standing orders: %d occurrence(s) executed", done)
                expired = await expire_due(ctx, clock.now())
                if expired:
                    log.info("holds: %d expired", expired)
                voided = await void_into_closed_due(ctx, clock.now())
                if voided:
                    log.info("holds: %d voided, their destination closed", voided)
                progress.record_tick_done()
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:  # retried next tick
                log.warning("scheduler: tick failed (retried next tick): %r", exc)
                # every connection opened before it may be as dead as the one that failed
                # (a failover leaves them all unanswered): the next tick opens new ones
                await pool.expire_connections()
                if once:
                    return 1
            if once:
                return 0
            await asyncio.sleep(progress.interval)
    finally:
        await pool.close()


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
    clock: Clock = FileClock(Path(args.clock_file)) if args.clock_file else SystemClock()
    progress = TickProgress(settings.pipeline_stall_seconds, args.interval)
    if not args.once:
        consumer_health.serve(progress, settings.scheduler_metrics_port, settings.metrics_host)
    try:
        return await run(settings, clock, once=args.once, progress=progress)
    except asyncio.CancelledError:
        return 0


def main() -> int:
    from runtime.observability.process import setup_process

    parser = argparse.ArgumentParser(prog="python -m server.scheduler")
    parser.add_argument("--once", action="store_true", help="do what is due, then exit")
    parser.add_argument("--clock-file", help="read the time from this file (ISO date or date-time)")
    parser.add_argument(
        "--interval", type=float, default=TICK_SECONDS, help="seconds between ticks"
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    setup_process("scheduler", settings)
    return asyncio.run(_main(args, settings))


if __name__ == "__main__":
    sys.exit(main())
