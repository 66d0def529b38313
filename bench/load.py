"""The load process: ``python -m bench.load PLAN.json``, started by ``python -m bench``.

Runs apart from the API so that the client's CPU is its own process. Prints one
JSON line per finished step on stdout ({"step", "summary"} or {"step",
"skipped"}) and a last {"done": true, "peak_rss_mb": …}. A {"mark": …} line says that
a step's setup is done: the CPU counted for the step starts there.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

import aiohttp
import msgspec
import uvloop

from bench import baselines
from bench.fixtures import open_accounts, sign_up
from bench.http_scenarios import HttpScenarios
from bench.loadgen import closed_loop, open_loop
from bench.stats import Summary, summarize_run

# The push scenario runs long enough for the embedded broker's topic recycles (one
# about every 25 s at 1,000 deposits/s) to weigh in its p99 as often as they come
# (docs/adr/0355).
PUSH_SECONDS = 30.0


class Plan(msgspec.Struct, kw_only=True):
    api_url: str
    admin_database_url: str
    fixed_rate: float = 1000.0
    fixed_seconds: float = 4.0
    push_seconds: float = PUSH_SECONDS
    saturation_seconds: float = 5.0
    concurrency: int = 64
    accounts: int = 300
    scenarios: list[str] = []
    batch_fixed_size: int = 100
    batch_saturation_size: int = 8190
    batch_concurrency: int = 2
    e2e: bool = True
    e2e_skip_reason: str = ""
    admin_credentials: list[str] = []  # the stack's bootstrap admin: makes the e2e's teller
    baselines: bool = True
    copy_commands: int = 60_000
    rss_events: int = 0  # fill the store to this many events before the end (RSS)
    rss_max_seconds: float = 300.0


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# After a mark, time for the bench to read every process's CPU before the step starts.
MARK_SETTLE_SECONDS = 0.2


async def mark(what: str) -> None:
    """The setup of the next step is done: its CPU is counted from here."""
    emit({"mark": what})
    await asyncio.sleep(MARK_SETTLE_SECONDS)


def report(
    step: str, summary: Summary | None, reason: str = "", window: tuple[float, float] | None = None
) -> None:
    """One step's summary (or why it was skipped); ``window``: when its load ran (Unix
    times), for the bench to find what the pipeline did meanwhile."""
    if summary is None:
        emit({"step": step, "skipped": reason})
    else:
        emit({"step": step, "summary": msgspec.to_builtins(summary), "window": window})


async def _batch_available(api: str, http: aiohttp.ClientSession, auth: dict[str, str]) -> bool:
    async with http.post(
        f"{api}/api/v1/transfers/batch",
        data=b"{}",
        headers={**auth, "Content-Type": "application/json"},
    ) as r:
        return r.status not in (404, 405)


async def http_steps(plan: Plan) -> None:
    api = plan.api_url
    # uvicorn closes a keep-alive connection idle for 5 s; a POST on such a connection
    # fails (aiohttp does not retry it), so idle connections are dropped first.
    conn = aiohttp.TCPConnector(limit=plan.concurrency + 16, keepalive_timeout=3.0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as http:
        t0 = time.perf_counter()
        who = await sign_up(http, api, "bench")
        await open_accounts(http, api, who, plan.accounts)
        emit(
            {
                "step": "fixtures",
                "info": f"{plan.accounts} funded accounts in {time.perf_counter() - t0:.1f}s",
            }
        )
        scen = HttpScenarios(api, http, who)
        for name in plan.scenarios:
            if name == "batch_transfers":
                if not await _batch_available(api, http, who.auth):
                    for mode in ("fixed", "saturation"):
                        report(
                            f"ours/{name}/{mode}", None, "POST /api/v1/transfers/batch not found"
                        )
                    continue
                size = plan.batch_fixed_size
                run = await open_loop(
                    scen.call(name, batch_size=size),
                    rate=plan.fixed_rate / size,
                    duration=plan.fixed_seconds,
                )
                report(
                    f"ours/{name}/fixed",
                    summarize_run(
                        run,
                        scenario=name,
                        system="ours",
                        mode="fixed",
                        ops_per_call=size,
                        unit="transfers",
                        offered_rate=plan.fixed_rate,
                        note=f"batches of {size}; latency per batch request",
                    ),
                )
                size = plan.batch_saturation_size
                run = await closed_loop(
                    scen.call(name, batch_size=size),
                    concurrency=plan.batch_concurrency,
                    duration=plan.saturation_seconds,
                    max_calls=10**6,
                )
                if plan.e2e_skip_reason:  # no CDC or projections in this run: none to wait for
                    caught_up, read_side = None, f"no read side running ({plan.e2e_skip_reason})"
                else:
                    caught_up = await read_side_caught_up(plan.admin_database_url, timeout=60.0)
                    read_side = "CDC and projections caught up " + (
                        f"{caught_up:.1f} s after the burst" if caught_up else "not in 60 s"
                    )
                report(
                    f"ours/{name}/saturation",
                    summarize_run(
                        run,
                        scenario=name,
                        system="ours",
                        mode="saturation",
                        ops_per_call=size,
                        unit="transfers",
                        concurrency=plan.batch_concurrency,
                        caught_up_s=caught_up,
                        note=f"batches of {size}; latency per batch request; {read_side}",
                    ),
                )
                continue
            call = scen.call(name)
            run = await open_loop(call, rate=plan.fixed_rate, duration=plan.fixed_seconds)
            report(
                f"ours/{name}/fixed",
                summarize_run(
                    run,
                    scenario=name,
                    system="ours",
                    mode="fixed",
                    offered_rate=plan.fixed_rate,
                ),
            )
            run = await closed_loop(
                call,
                concurrency=plan.concurrency,
                duration=plan.saturation_seconds,
                max_calls=10**6,
            )
            report(
                f"ours/{name}/saturation",
                summarize_run(
                    run,
                    scenario=name,
                    system="ours",
                    mode="saturation",
                    concurrency=plan.concurrency,
                ),
            )
        if plan.e2e_skip_reason:
            report("ours/e2e_push/fixed", None, plan.e2e_skip_reason)
        elif plan.e2e:
            from bench.e2e import run_e2e
            from bench.wrk_scenarios import make_tellers

            try:
                email, password = plan.admin_credentials
                (teller,) = await make_tellers(api, (email, password), 1)
                # Not the push's cost: signing the teller up and in hashes passwords.
                await mark("e2e_push: teller ready")
                started = time.time()
                s = await run_e2e(
                    api, http, teller, rate=plan.fixed_rate, seconds=plan.push_seconds
                )
                report("ours/e2e_push/fixed", s, window=(started, time.time()))
            except Exception as exc:  # noqa: BLE001 - a broken path is a result to report
                report("ours/e2e_push/fixed", None, f"end-to-end run failed: {exc!r}")


AFTER_FILL_TIMEOUT_SECONDS = 300.0


async def last_event_projected(db_url: str, timeout: float) -> float | None:
    """Seconds until account_view holds the last account event written, or None (a
    look at the last event only: read_side_caught_up's scan of every stream takes
    seconds on a million events)."""
    import asyncpg

    t0 = time.perf_counter()
    conn = await asyncpg.connect(db_url)
    try:
        last = await conn.fetchrow(
            "SELECT stream_id, version FROM events WHERE stream_type = 'account'"
            " ORDER BY global_position DESC LIMIT 1"
        )
        while last is not None and time.perf_counter() - t0 < timeout:
            seen = await conn.fetchval(
                "SELECT version FROM account_view WHERE account_id = $1", last["stream_id"]
            )
            if seen is not None and seen >= last["version"]:
                return time.perf_counter() - t0
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return None if last is not None else 0.0


async def read_side_caught_up(db_url: str, timeout: float) -> float | None:
    """Seconds until account_view holds every account's last event version, or None."""
    import asyncpg

    t0 = time.perf_counter()
    conn = await asyncpg.connect(db_url)
    try:
        while time.perf_counter() - t0 < timeout:
            behind = await conn.fetchval(
                "SELECT count(*) FROM (SELECT stream_id, max(version) AS v FROM events"
                " WHERE stream_type = 'account' GROUP BY stream_id) e"
                " LEFT JOIN account_view a ON a.account_id = e.stream_id"
                " WHERE a.version IS DISTINCT FROM e.v"
            )
            if behind == 0:
                return time.perf_counter() - t0
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return None


async def main(plan: Plan) -> None:
    await http_steps(plan)
    # The baselines before the RSS fill, as our own scenarios are: after it, PostgreSQL
    # vacuums the million events' tables and the pipeline digests them for a minute,
    # and a baseline measured meanwhile was slower than ours would be (docs/adr/0321).
    if plan.baselines:
        await baselines.run_all(
            plan.admin_database_url,
            duration=plan.saturation_seconds,
            fixed_rate=plan.fixed_rate,
            fixed_seconds=plan.fixed_seconds,
            copy_commands=plan.copy_commands,
            report=report,
        )
    if plan.rss_events > 0:
        from bench.rss_fill import fill

        info = await fill(
            plan.api_url, plan.admin_database_url, plan.rss_events, plan.rss_max_seconds
        )
        if not plan.e2e_skip_reason:  # the pipeline runs (--no-e2e does not start it)
            # The fill outruns the read side: the RSS "after a million events" is read
            # once the read side has them all.
            caught_up = await last_event_projected(
                plan.admin_database_url, AFTER_FILL_TIMEOUT_SECONDS
            )
            when = "not within the timeout" if caught_up is None else f"{caught_up:.1f} s later"
            info = f"{info}; the read side had them all {when}"
        emit({"step": "rss_fill", "info": info})


if __name__ == "__main__":
    plan = msgspec.json.decode(open(sys.argv[1], "rb").read(), type=Plan)
    uvloop.run(main(plan))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    emit({"done": True, "peak_rss_mb": round(peak_kb / 1024, 1)})
