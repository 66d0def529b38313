"""HTTP load from Debian's `wrk` (C, one thread): the load generator costs little of the
CPU it measures, and what it does cost is measured (its rusage) and reported.

A Lua script built per scenario gives every request a fresh Idempotency-Key and
rotates the bearer tokens of several customers (each request uses an account its
token owns). ``rate`` paces the thread's sends to a fixed schedule (wrk's ``delay()``
returns the time until the next free slot, read from CLOCK_MONOTONIC through LuaJIT's
FFI): the load is offered at ``rate`` whatever the latency, as long as a connection is
free, and a backlog of at most a second is sent at once. (A fixed delay per request,
as before, added the latency to every interval: 1,000/s offered over 32 connections
was 674/s served at a 14 ms median.) Latency is measured from the send, so queueing
inside wrk is not counted; the offered and achieved rates are both reported.

A failed request is counted by its status (wrk alone says "non-2xx"), and the first
one's body is kept for the report. The ``response`` hook this needs costs wrk about
2 µs per request (3 alternated runs of deposits and balance reads, 7 Dec 2026: 17.5,
16.3, 17.1 µs per deposit without it, 19.9, 20.4, 17.6 with; 11.5, 11.2, 11.4 per read
against 13.5, 13.2, 13.5), under 1 % of what a deposit costs the stack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

WRK = "/usr/bin/wrk"
MARK = "BENCHJSON "

LUA_COMMON = r"""
local creds = {CREDS}
local all_accounts = {ALL}
local counter = 0
local function r(m, n) return math.random(m, n) end
local function uuid4()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    r(0, 65535), r(0, 65535), r(0, 65535), r(0, 4095), r(32768, 49151),
    r(0, 65535), r(0, 65535), r(0, 65535))
end
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
local function who()
  counter = counter + 1
  return creds[(counter % #creds) + 1]
end
-- Which statuses a failed request had, and the first failure's body: wrk itself counts
-- them only as "non-2xx". Kept per thread; done() reads them through setup's handles.
local bench_threads = {}
function setup(thread) table.insert(bench_threads, thread) end
statuses = {}
first_error = ""
function response(status, _headers, body)
  if status > 399 then
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
    if first_error == "" then first_error = k .. " " .. string.sub(body or "", 1, 300) end
  end
end
local function headers(c, idem)
  local h = {["Authorization"] = "Bearer " .. c.t, ["Content-Type"] = "application/json"}
  if idem then h["Idempotency-Key"] = uuid4() end
  return h
end
"""

LUA_REQUEST = {
    # Given tellers' credentials (bench.wrk_scenarios.teller_creds): a cash deposit into
    # a customer's account, the production deposit (one account locked).
    "deposits": r"""
request = function()
  local c = who()
  local a = c.a[r(1, #c.a)]
  return wrk.format("POST", "/api/v1/accounts/" .. a .. "/deposits", headers(c, true),
    '{"amount":100,"description":"bench"}')
end
""",
    # A customer's deposit into an account of their own is a development top-up
    # (capped per customer per day: it locks every account of theirs).
    "top_ups": r"""
request = function()
  local c = who()
  local a = c.a[r(1, #c.a)]
  return wrk.format("POST", "/api/v1/accounts/" .. a .. "/deposits", headers(c, true),
    '{"amount":100,"description":"bench"}')
end
""",
    "transfers_uniform": r"""
request = function()
  local c = who()
  local src = c.a[r(1, #c.a)]
  local dst = all_accounts[r(1, #all_accounts)]
  if dst == src then dst = all_accounts[(r(1, #all_accounts - 1) % #all_accounts) + 1] end
  if dst == src then dst = c.a[(1 % #c.a) + 1] end
  return wrk.format("POST", "/api/v1/transfers", headers(c, true),
    '{"from_account_id":"' .. src .. '","to_account_id":"' .. dst .. '","amount":1}')
end
""",
    "get_balance": r"""
request = function()
  local c = who()
  local a = c.a[r(1, #c.a)]
  return wrk.format("GET", "/api/v1/accounts/" .. a .. "/balance", headers(c, false))
end
""",
}

LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({50, 90, 95, 99, 99.9}) do p[tostring(q)] = latency:percentile(q) end
  local seen, first = {}, ""
  for _, t in ipairs(bench_threads) do
    for k, n in pairs(t:get("statuses") or {}) do seen[k] = (seen[k] or 0) + n end
    local f = t:get("first_error") or ""
    if first == "" then first = f end
  end
  local parts = {}
  for k, n in pairs(seen) do table.insert(parts, string.format('"%s":%d', k, n)) end
  io.write("BENCHJSON " .. string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"timeout":%d,"mean_us":%.1f,"max_us":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,'
    .. '"p99_us":%d,"p999_us":%d,"statuses":{%s},"first_error":"%s"}',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency.mean, latency.max, p["50"], p["90"], p["95"], p["99"], p["99.9"],
    table.concat(parts, ","), (first:gsub('[^%w%p ]', " "):gsub('["\\]', " "))) .. "\n")
end
"""

SCENARIOS = tuple(LUA_REQUEST)


def ensure_wrk() -> str:
    """wrk from Debian, installed the way .ci/run installs chromium when it is missing."""
    if os.access(WRK, os.X_OK):
        return WRK
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, timeout=600
    )
    return WRK


def _lua_str_list(items: list[str]) -> str:
    return "{" + ",".join(f'"{x}"' for x in items) + "}"


# Sends on a fixed schedule: each call takes the next slot, INTERVAL ms after the last.
LUA_PACED = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval_ms = {INTERVAL}
local next_ms = nil
function delay()
    local t = now_ms()
    if next_ms == nil or next_ms < t - 1000 then next_ms = t end
    local wait = next_ms - t
    next_ms = next_ms + interval_ms
    if wait < 0 then return 0 end
    return wait
end
"""


def script(scenario: str, creds: list[tuple[str, list[str]]], rate: float | None) -> str:
    """The Lua for one scenario; ``rate`` (requests/s of the one wrk thread) paces it."""
    lua_creds = "{" + ",".join(f'{{t="{t}",a={_lua_str_list(a)}}}' for t, a in creds) + "}"
    everyone = [a for _, accs in creds for a in accs]
    text = LUA_COMMON.replace("{CREDS}", lua_creds).replace("{ALL}", _lua_str_list(everyone))
    text += LUA_REQUEST[scenario]
    if rate:
        text += LUA_PACED.replace("{INTERVAL}", f"{1000.0 / rate:.6f}")
    return text + LUA_DONE


@dataclass
class WrkRun:
    requests: int
    ok: int
    seconds: float
    errors: dict[str, int]
    latency_us: dict[str, float]
    cpu_seconds: float  # wrk's own user + system CPU
    first_error: str  # the first failed response: "<status> <body, 300 bytes>"; "" if none
    command: str


def run(
    url: str,
    lua: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    timeout_s: int = 10,
) -> WrkRun:
    exe = ensure_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-", delete=False) as f:
        f.write(lua)
        path = Path(f.name)
    argv = [
        exe,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(path),
        url,
    ]
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
    finally:
        path.unlink(missing_ok=True)
    line = next((x for x in out.splitlines() if x.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}):\n{out[-2000:]}")
    doc = json.loads(line[len(MARK) :])
    errors = {k: doc[k] for k in ("non_2xx", "connect", "read", "write", "timeout") if doc[k]}
    if doc["statuses"]:  # the same failures as non_2xx, by status
        errors.pop("non_2xx", None)
        errors.update({f"http_{k}": n for k, n in sorted(doc["statuses"].items())})
    failed = doc["non_2xx"] + doc["connect"] + doc["read"] + doc["write"] + doc["timeout"]
    return WrkRun(
        requests=doc["requests"],
        ok=max(0, doc["requests"] - failed),
        seconds=doc["duration_us"] / 1e6 or wall,
        errors=errors,
        latency_us={k: float(doc[k]) for k in doc if k.endswith("_us") and k != "duration_us"},
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        first_error=doc["first_error"],
        command=" ".join(argv[:-3]) + " <scenario>.lua URL",
    )
