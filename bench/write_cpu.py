"""CPU per deposit of the API process and of PostgreSQL, driven by ``wrk``.

Starts an isolated stack (PostgreSQL, Redis, broker; the API only: no CDC, no
projection worker, so PostgreSQL's figure is the write path's own), opens one
account per customer, then runs ``wrk -t1 -cC -dD`` with a Lua script that sends
deposits with a fresh Idempotency-Key each, rotating over the customers' tokens.
Reads each process's user+system CPU time (psutil) before and after the run and
prints µs of CPU per deposit next to throughput, latency and the load average.

    .venv/bin/python -m bench.write_cpu [--seconds 15] [--connections 32] [--customers 32]
    [--profile out.json]   # also py-spy record the API during the run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

import asyncpg
import httpx
import psutil

from bench.stack import BENCH_API_ENV, start_api_as, start_stack, stop_stack

LUA = r"""
local tokens = {}
local accounts = {}
for line in io.lines(os.getenv("WRITE_CPU_PLAN")) do
  local t, a = line:match("([^ ]+) ([^ ]+)")
  tokens[#tokens + 1] = t
  accounts[#accounts + 1] = a
end
local i = 0
math.randomseed(os.time())
local function key()
  return string.format("%08x-%04x-4%03x-a%03x-%012x", math.random(0, 0x7fffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), math.random(0, 0xfff),
    math.random(0, 0x7fffffff) * 65536 + math.random(0, 0xffff))
end
request = function()
  i = i + 1
  local n = (i % #tokens) + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. tokens[n]
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = key() .. "-" .. i
  return wrk.format("POST", "/api/v1/accounts/" .. accounts[n] .. "/deposits", headers,
    '{"amount": 100, "description": "wrk"}')
end
"""


def cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_procs(pgdata: str) -> list[psutil.Process]:
    """This stack's postmaster and its backends (not another stack's on the same machine)."""
    with open(os.path.join(pgdata, "postmaster.pid")) as f:
        master = psutil.Process(int(f.readline()))
    return [master, *master.children(recursive=True)]


async def prepare(api_url: str, customers: int) -> list[tuple[str, str]]:
    plan = []
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        for n in range(customers):
            email = f"cpu-{uuid.uuid4().hex[:8]}-{n}@example.com"
            r = await http.post(
                "/api/v1/auth/register",
                json={
                    "email": email,
                    "password": "correct horse battery staple",
                    "full_name": f"Bench {n}",
                },
            )
            assert r.status_code == 201, r.text
            r = await http.post(
                "/api/v1/auth/token",
                data={
                    "grant_type": "password",
                    "username": email,
                    "password": "correct horse battery staple",
                },
            )
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            r = await http.post(
                "/api/v1/accounts",
                json={"currency": "EUR", "name": "cpu"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            plan.append((token, r.json()["id"]))
    return plan


async def wal_lsn(url: str) -> int:
    """The server's WAL insert position in bytes (what a write costs on disk and to CDC)."""
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--customers", type=int, default=32)
    ap.add_argument("--profile", default="")
    args = ap.parse_args()
    st = start_stack()
    try:
        api = start_api_as(st, None, None, BENCH_API_ENV)
        plan = asyncio.run(prepare(st.api_url, args.customers))
        with tempfile.TemporaryDirectory() as tmp:
            plan_file = os.path.join(tmp, "plan.txt")
            lua_file = os.path.join(tmp, "deposit.lua")
            with open(plan_file, "w") as f:
                f.writelines(f"{t} {a}\n" for t, a in plan)
            with open(lua_file, "w") as f:
                f.write(LUA)
            api_proc = psutil.Process(api.pid)
            api_procs = [api_proc, *api_proc.children(recursive=True)]
            pg = postgres_procs(str(st.postgres.pgdata))
            # warm-up
            env = {**os.environ, "WRITE_CPU_PLAN": plan_file}
            subprocess.run(
                ["wrk", "-t1", f"-c{args.connections}", "-d3s", "-s", lua_file, st.api_url],
                env=env,
                capture_output=True,
                check=True,
            )
            pg = postgres_procs(str(st.postgres.pgdata))
            w0 = asyncio.run(wal_lsn(st.admin_database_url))
            a0, p0 = cpu(api_procs), cpu(pg)
            load0 = os.getloadavg()
            spy = None
            if args.profile:
                spy = subprocess.Popen(
                    [
                        os.path.join(os.path.dirname(sys.executable), "py-spy"),
                        "record",
                        "-p",
                        str(api.pid),
                        "-d",
                        str(args.seconds - 1),
                        "-r",
                        "200",
                        "-f",
                        "speedscope",
                        "-o",
                        args.profile,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            t0 = time.perf_counter()
            out = subprocess.run(
                [
                    "wrk",
                    "-t1",
                    f"-c{args.connections}",
                    f"-d{args.seconds}s",
                    "--latency",
                    "-s",
                    lua_file,
                    st.api_url,
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            elapsed = time.perf_counter() - t0
            a1, p1 = cpu(api_procs), cpu(postgres_procs(str(st.postgres.pgdata)))
            load1 = os.getloadavg()
            w1 = asyncio.run(wal_lsn(st.admin_database_url))
            if spy is not None:
                spy.wait(timeout=60)
        m = re.search(r"(\d+) requests in", out)
        requests = int(m.group(1)) if m else 0
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        lat = dict(re.findall(r"\s+(50|90|99)%\s+(\S+)", out))
        result = {
            "requests": requests,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "per_second": round(requests / elapsed, 1),
            "p50": lat.get("50"),
            "p99": lat.get("99"),
            "api_cpu_us_per_deposit": round((a1 - a0) / requests * 1e6, 1),
            "postgres_cpu_us_per_deposit": round((p1 - p0) / requests * 1e6, 1),
            "wal_bytes_per_deposit": round((w1 - w0) / requests) if requests else None,
            "load_before": [round(x, 2) for x in load0],
            "load_after": [round(x, 2) for x in load1],
        }
        print(json.dumps(result, indent=2))
    finally:
        stop_stack(st)


if __name__ == "__main__":
    main()
