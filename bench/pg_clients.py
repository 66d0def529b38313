"""PostgreSQL's CPU per command, by the client it worked for: which of its costs is whose.

    python -m bench.pg_clients [--scenario transfers_uniform] [--seconds 12] [--rounds 1]
                               [--out FILE.json]

PostgreSQL is the largest single column of every write scenario's CPU, and it works
for five clients at once: the API's writes and loads, the CDC connector's logical
decoding (the walsender), the projection worker's read models, the notification
consumer's rows, and its own background processes (WAL writer, checkpointer,
autovacuum). This tool starts an isolated stack as ``python -m bench`` does, drives
one scenario at saturation (``deposits`` and ``transfers_uniform`` from wrk,
``batch_transfers`` as the bench does: batches of 8,190 from two connections, then
until the read side has caught up), and reads every PostgreSQL process's CPU before and
after, and beside them every process of the stack as the bench reads it (the load
generator is not counted: wrk's own CPU is outside the stack). Each backend is named
by its client: the process title gives the client's port, and the stack's processes'
sockets say whose port it is; a background process by its title. Backends that exited
during the run are counted apart. Linux only, as root (to read every process's sockets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench import wrk, wrk_scenarios
from bench.cpu import tree_cpu
from bench.fixtures import Customer, open_accounts, sign_up
from bench.http_scenarios import HttpScenarios
from bench.load import read_side_caught_up
from bench.loadgen import closed_loop
from bench.stack import BENCH_API_ENV, measured_pids, running_stack

BATCH = "batch_transfers"
BATCH_SIZE = 8190
BATCH_CONNECTIONS = 2
EXITED = "exited during the run"

_WORKERS = ("autovacuum worker", "io worker", "parallel worker", "logical replication worker")
_CLIENT_PORT = re.compile(r"\((\d+)\)")


def process_title(title: str) -> tuple[str, int | None]:
    """What a PostgreSQL process's title (``postgres: bank_app bank 127.0.0.1(43210) idle``,
    ``postgres: walwriter``) says it is: its kind, and the client's port for a backend."""
    rest = title.removeprefix("postgres: ").strip()
    port = _CLIENT_PORT.search(rest)
    if port is None:
        for kind in _WORKERS:  # their titles go on with a database name or a number
            if rest.startswith(kind):
                return kind, None
        return rest or "postmaster", None
    kind = "walsender" if rest.startswith("walsender") else "client backend"
    return kind, int(port.group(1))


def port_owners(named_pids: dict[str, int]) -> dict[int, str]:
    """The local TCP port of every socket held by a named process or its descendants:
    a backend's client port names the process it works for (read from the sockets, as
    pg_stat_activity hides other roles' backends from a role without pg_read_all_stats)."""
    owner_of_pid: dict[int, str] = {}
    for name, pid in named_pids.items():
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                owner_of_pid[proc.pid] = name
        except psutil.Error:
            continue
    ports: dict[int, str] = {}
    for c in psutil.net_connections(kind="tcp"):
        if c.pid in owner_of_pid and c.laddr:
            ports[c.laddr.port] = owner_of_pid[c.pid]
    return ports


def _names(postmaster: int, named_pids: dict[str, int]) -> dict[int, str]:
    """Each live PostgreSQL process: the component its client is, or its own kind."""
    ports = port_owners(named_pids)
    names: dict[int, str] = {}
    for child in psutil.Process(postmaster).children(recursive=True):
        try:
            kind, port = process_title(" ".join(child.cmdline()))
        except psutil.Error:
            continue
        if port is None:
            names[child.pid] = kind
        else:
            client = ports.get(port, "another client")
            names[child.pid] = f"{kind} of {client}"
    return names


def backend_cpu(postmaster: int) -> tuple[dict[int, float], float]:
    """CPU seconds of each live PostgreSQL process (the postmaster's children and the
    postmaster itself, under its own pid), and of every child it reaped so far."""
    root = psutil.Process(postmaster)
    times: dict[int, float] = {}
    for child in root.children(recursive=True):
        try:
            c = child.cpu_times()
        except psutil.Error:
            continue
        times[child.pid] = c.user + c.system
    own = root.cpu_times()
    times[postmaster] = own.user + own.system
    return times, own.children_user + own.children_system


def by_client(
    before: dict[int, float],
    after: dict[int, float],
    reaped: float,
    names: dict[int, str],
    postmaster: int,
) -> dict[str, float]:
    """Each client's CPU seconds over the run. A backend that started during the run
    counts from zero; one that exited, through what the postmaster reaped."""
    out: dict[str, float] = {}
    for pid, cpu in after.items():
        name = "postmaster" if pid == postmaster else names.get(pid, "unnamed process")
        out[name] = out.get(name, 0.0) + cpu - before.get(pid, 0.0)
    # A reaped backend's whole life is in ``reaped``; what it spent before the run is not
    # the run's. (One that exited but is not reaped yet counts in neither.)
    gone = sum(cpu for pid, cpu in before.items() if pid not in after)
    if reaped or gone:
        out[EXITED] = max(0.0, reaped - gone)
    return out


def per_command(seconds: dict[str, float], commands: int) -> dict[str, float]:
    """µs per command, largest first."""
    if commands <= 0:
        return {}
    rows = sorted(seconds.items(), key=lambda kv: -kv[1])
    return {name: round(s * 1e6 / commands, 1) for name, s in rows}


def _session() -> aiohttp.ClientSession:
    conn = aiohttp.TCPConnector(limit=8, keepalive_timeout=3.0)
    return aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(300))


async def _batch_customer(api: str) -> Customer:
    """The batch's customer and its 300 funded accounts (made before the clock starts)."""
    async with _session() as http:
        who = await sign_up(http, api, "pgclients")
        await open_accounts(http, api, who, 300)
    return who


async def _batch_burst(api: str, who: Customer, batches: int) -> tuple[int, float]:
    """``batches`` batches of BATCH_SIZE uniform transfers from BATCH_CONNECTIONS
    connections; the transfers made and the burst's seconds."""
    async with _session() as http:
        call = HttpScenarios(api, http, who).call(BATCH, batch_size=BATCH_SIZE)
        run = await closed_loop(
            call, concurrency=BATCH_CONNECTIONS, duration=600.0, max_calls=batches
        )
    if run.errors:
        raise RuntimeError(f"batches failed: {dict(run.errors)}")
    return len(run.latencies) * BATCH_SIZE, run.seconds


def _print(row: dict[str, Any]) -> None:
    print(
        f"round {row['round']} {row['scenario']}: {row['per_second']:,}/s,"
        f" load average {row['load_average']}, PostgreSQL {row['postgres_us']:.1f} µs a command,"
        f" every process of the stack {row['all_processes_us']:.1f} µs"
    )
    print("  " + ", ".join(f"{name} {us:.1f}" for name, us in row["processes"].items()))
    for name, us in row["per_command"].items():
        print(f"  {name:32s} {us:8.1f} µs")


def _rounds(args: argparse.Namespace, st: Any) -> Iterable[dict[str, Any]]:
    pids = measured_pids(st)
    postmaster = pids["postgres"]
    clients = {name: pid for name, pid in pids.items() if name != "postgres"}
    creds = [] if args.scenario == BATCH else wrk_scenarios.scenario_creds(st, args.scenario)
    for n in range(args.rounds):
        if args.scenario == BATCH:
            who = asyncio.run(_batch_customer(st.api_url))
            asyncio.run(read_side_caught_up(st.admin_database_url, timeout=120.0))
        before, reaped0 = backend_cpu(postmaster)
        stack0 = {name: tree_cpu(pid) for name, pid in pids.items()}
        t0 = time.perf_counter()
        if args.scenario == BATCH:
            commands, burst = asyncio.run(_batch_burst(st.api_url, who, args.batches))
            caught_up = asyncio.run(read_side_caught_up(st.admin_database_url, timeout=120.0))
            rate = commands / burst if burst else 0.0
            extra: dict[str, Any] = {
                "burst_seconds": round(burst, 2),
                "caught_up_seconds": caught_up,
            }
        else:
            lua = wrk.script(args.scenario, creds, None)
            run = wrk.run(st.api_url, lua, seconds=args.seconds, connections=32)
            commands, rate = run.ok, run.ok / args.seconds
            extra = {"errors": run.errors}
        names = _names(postmaster, clients)  # after: backends opened during the run too
        after, reaped1 = backend_cpu(postmaster)
        stack1 = {name: tree_cpu(pid) for name, pid in pids.items()}
        processes = per_command({n: stack1[n] - stack0[n] for n in pids}, commands)
        seconds = by_client(before, after, reaped1 - reaped0, names, postmaster)
        yield {
            "round": n,
            "scenario": args.scenario,
            "commands": commands,
            "per_second": round(rate, 1),
            "wall_seconds": round(time.perf_counter() - t0, 2),
            "load_average": round(os.getloadavg()[0], 2),
            "postgres_us": processes.get("postgres", 0.0),
            "all_processes_us": round(sum(processes.values()), 1),
            "processes": processes,
            "per_command": per_command(seconds, commands),
            **extra,
        }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_clients", description=__doc__)
    parser.add_argument(
        "--scenario", default="transfers_uniform", choices=sorted({*wrk.SCENARIOS, BATCH})
    )
    parser.add_argument("--seconds", type=int, default=12, help="wrk scenarios: seconds a round")
    parser.add_argument("--batches", type=int, default=6, help="batch_transfers: batches a round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with running_stack("bench.pg_clients", BENCH_API_ENV) as st:
        for row in _rounds(args, st):
            rows.append(row)
            _print(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
