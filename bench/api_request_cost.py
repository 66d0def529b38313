"""CPU per request of the API process: GET balance and a deposit, driven by `wrk`.

    python -m bench.api_request_cost [--duration 15] [--workers N] [--out FILE.json]
        [--profile DIR] [--compare OTHER_CHECKOUT --rounds 3] [--env BANK_X=y ...]

Starts its own isolated stack (bench.stack, like the tests: PostgreSQL, Redis,
the broker, the API, CDC and the projection worker), signs 32 customers up with
one funded account each, then runs Debian's `wrk` (C, little CPU of its own)
with a Lua script that rotates the customers' bearer tokens and accounts and
sets a fresh Idempotency-Key on every deposit. The API's CPU time (user+system
of the process and its worker children, psutil) before and after each run,
divided by the requests served, is the CPU per request. The load average is
recorded beside every figure. ``--compare`` runs a second API from another
checkout (e.g. ``git archive`` of the commit before a change) on the same stack
and alternates the two round by round, so both see the same machine load; the
summary gives the median of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from bench.fixtures import Customer, open_accounts, sign_up
from bench.stack import BENCH_API_ENV, start_api_as, start_pipeline, start_stack, stop_stack
from infra.local.ports import HOST, free_port
from infra.local.procs import ManagedProcess, http_ready
from infra.local.stack import EmbeddedStack

CUSTOMERS = 32

_LUA = """
local tokens = {%(tokens)s}
local accounts = {%(accounts)s}
local method, suffix, body = "%(method)s", "%(suffix)s", %(body)s
local n, counter, prefix = #tokens, 0, ""
function setup(thread) thread:set("prefix", tostring(math.random(1, 1e9))) end
function request()
  counter = counter + 1
  local i = (counter %% n) + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[i]}
  if body then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = prefix .. "-" .. counter
  end
  return wrk.format(method, "/api/v1/accounts/" .. accounts[i] .. suffix, headers, body)
end
"""

_SCENARIOS = {
    "get_balance": ("GET", "/balance", "nil"),
    "deposit": ("POST", "/deposits", "'{\"amount\": 1}'"),
}


def _lua(scenario: str, customers: list[Customer]) -> str:
    method, suffix, body = _SCENARIOS[scenario]
    return _LUA % {
        "tokens": ",".join(f'"{c.token}"' for c in customers),
        "accounts": ",".join(f'"{c.accounts[0]}"' for c in customers),
        "method": method,
        "suffix": suffix,
        "body": body,
    }


async def _customers(api: str) -> list[Customer]:
    async with aiohttp.ClientSession() as http:
        customers = await asyncio.gather(
            *(sign_up(http, api, f"cost{i}") for i in range(CUSTOMERS))
        )
        await asyncio.gather(*(open_accounts(http, api, c, 1) for c in customers))
    return list(customers)


def _cpu(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def _wrk(url: str, script: Path, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)

    def ms(m: re.Match[str] | None) -> float:
        if m is None:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return {
        "requests": requests,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "p50_ms": ms(p50),
        "p99_ms": ms(p99),
    }


def _py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else (shutil.which("py-spy") or "py-spy")


def _profile_summary(path: Path, top: int = 30) -> dict[str, list[tuple[str, float]]]:
    """Percent of samples per function from a py-spy speedscope file: inclusive
    (the function and what it called) and self, the top ``top`` of each."""
    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    inclusive: dict[int, float] = {}
    own: dict[int, float] = {}
    total = 0.0
    for prof in doc["profiles"]:
        for stack, weight in zip(prof["samples"], prof["weights"], strict=True):
            total += weight
            for f in set(stack):
                inclusive[f] = inclusive.get(f, 0.0) + weight
            if stack:
                own[stack[-1]] = own.get(stack[-1], 0.0) + weight

    def ranked(counts: dict[int, float]) -> list[tuple[str, float]]:
        best = sorted(counts, key=lambda i: -counts[i])[:top]
        return [
            (
                f"{frames[i]['name']} ({Path(frames[i].get('file', '?')).name}"
                f":{frames[i].get('line', 0)})",
                round(100 * counts[i] / max(total, 1), 1),
            )
            for i in best
        ]

    return {"inclusive": ranked(inclusive), "self": ranked(own)}


def run_scenario(
    api_pid: int,
    api_url: str,
    scenario: str,
    customers: list[Customer],
    duration: int,
    profile_dir: str = "",
) -> dict[str, object]:
    api = psutil.Process(api_pid)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_lua(scenario, customers))
        script = Path(f.name)
    spy = None
    try:
        _wrk(api_url, script, 3, 32)  # warm-up
        if profile_dir:  # a profiled run's CPU figures include py-spy's pauses
            out = Path(profile_dir) / f"{scenario}.speedscope.json"
            out.parent.mkdir(parents=True, exist_ok=True)  # py-spy writes no folders
            spy = subprocess.Popen(
                [_py_spy(), "record", "-p", str(api_pid), "-d", str(duration), "-r", "200"]
                + ["-f", "speedscope", "-o", str(out), "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        before, started = _cpu(api), time.perf_counter()
        result = _wrk(api_url, script, duration, 32)
        cpu, elapsed = _cpu(api) - before, time.perf_counter() - started
        if spy is not None:
            spy.wait(timeout=60)
            result["profile"] = _profile_summary(out)  # type: ignore[assignment]
    finally:
        script.unlink()
    served = max(1, int(result["requests"]))
    return {
        "scenario": scenario,
        **result,
        "per_second": round(served / elapsed, 1),
        "api_cpu_us_per_request": round(cpu / served * 1e6, 1),
        "api_cpu_cores": round(cpu / elapsed, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _api_from(st: EmbeddedStack, tree: Path, env: dict[str, str]) -> ManagedProcess:
    """A second API on the same stack, running the code of another checkout (A/B)."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    proc_env = st.process_env(env | {"BANK_API_HOST": HOST, "BANK_API_PORT": str(port)})
    proc_env["PYTHONPATH"] = str(tree)
    proc = ManagedProcess(
        "api-compare",
        [sys.executable, "-m", "server.api"],
        env=proc_env,
        cwd=tree,
        log_path=st.logs_dir / "api-compare.log",
        pid_path=st.pid_path("api-compare"),
        ready=http_ready(f"{url}/health/live"),
        port=port,
    )
    proc.url = url
    st.processes["api-compare"] = proc
    return proc.start().wait_ready(60)


def _median(rows: list[dict[str, object]], key: str) -> float:
    values = sorted(float(r[key]) for r in rows)  # type: ignore[arg-type]
    return values[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", default="")
    parser.add_argument("--scenarios", nargs="*", default=list(_SCENARIOS))
    parser.add_argument("--env", nargs="*", default=[], help="VAR=value for the API")
    parser.add_argument("--profile", default="", help="folder for py-spy profiles")
    parser.add_argument(
        "--compare", default="", help="another checkout: its API runs beside this one (A/B)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="A/B rounds, alternating")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    env = {**BENCH_API_ENV}
    env |= dict(e.split("=", 1) for e in args.env)
    st = start_stack()
    try:
        api = start_api_as(st, None, args.workers, env)
        apis = {"this": (api.pid, st.api_url)}
        if args.compare:
            other = _api_from(st, Path(args.compare).resolve(), env)
            apis["compare"] = (other.pid, other.url)
        start_pipeline(st)
        customers = asyncio.run(_customers(st.api_url))
        results = []
        for round_no in range(args.rounds):
            for label, (pid, url) in apis.items():
                for s in args.scenarios:
                    row = run_scenario(pid, url, s, customers, args.duration, args.profile)
                    results.append({"api": label, "round": round_no, **row})
    finally:
        stop_stack(st)
    summary = {
        f"{label} {s}": {
            "median_api_cpu_us_per_request": _median(rows, "api_cpu_us_per_request"),
            "median_per_second": _median(rows, "per_second"),
            "runs": len(rows),
        }
        for label in apis
        for s in args.scenarios
        if (rows := [r for r in results if r["api"] == label and r["scenario"] == s])
    }
    text = json.dumps(
        {"workers": args.workers, "env": env, "summary": summary, "results": results}, indent=2
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
