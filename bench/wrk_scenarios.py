"""The single-command HTTP scenarios driven by wrk, each with the CPU every process spent
per command; and a py-spy profile of the API and the connector under the deposit load."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from bench import profile, wrk
from bench.cpu import CpuMeter
from bench.fixtures import open_accounts, sign_up
from bench.stats import Summary

CONNECTIONS = 32


async def _creds(api: str, customers: int, accounts: int) -> list[tuple[str, list[str]]]:
    """Several customers (their tokens rotate), the accounts shared out among them."""
    per = max(2, accounts // customers)
    out = []
    conn = aiohttp.TCPConnector(limit=32, keepalive_timeout=3.0)
    async with aiohttp.ClientSession(connector=conn) as http:
        for i in range(customers):
            who = await sign_up(http, api, f"wrk{i}")
            await open_accounts(http, api, who, per)
            out.append((who.token, list(who.accounts)))
    return out


def make_creds(api: str, customers: int = 8, accounts: int = 300) -> list[tuple[str, list[str]]]:
    return asyncio.run(_creds(api, customers, accounts))


def _summary(
    scenario: str, mode: str, run: wrk.WrkRun, cpu: dict[str, float], offered: float | None
) -> dict[str, Any]:
    lat = {k.removesuffix("_us"): v / 1000 for k, v in run.latency_us.items()}
    s = Summary(
        scenario=scenario,
        system="ours",
        mode=mode,
        ok=run.ok,
        failed=run.requests - run.ok,
        errors=run.errors,
        seconds=round(run.seconds, 3),
        throughput=round(run.ok / run.seconds, 1) if run.seconds else 0.0,
        offered_rate=offered,
        concurrency=CONNECTIONS,
        p50_ms=round(lat["p50"], 3),
        p95_ms=round(lat["p95"], 3),
        p99_ms=round(lat["p99"], 3),
        max_ms=round(lat["max"], 3),
        mean_ms=round(lat["mean"], 3),
        note="wrk -t1 -c32"
        + (", paced per connection; latency from the send" if offered else ", closed loop"),
    )
    doc: dict[str, Any] = msgspec.to_builtins(s)
    doc["cpu_us_per_op"] = cpu
    doc["generator"] = "wrk"
    return doc


def run_one(
    url: str,
    meter: CpuMeter,
    creds: list[tuple[str, list[str]]],
    scenario: str,
    *,
    seconds: float,
    rate: float | None = None,
) -> dict[str, Any]:
    lua = wrk.script(scenario, creds, rate / CONNECTIONS if rate else None)
    before = meter.snapshot()
    run = wrk.run(url, lua, seconds=seconds, connections=CONNECTIONS)
    after = meter.snapshot()
    cpu = CpuMeter.per_op(before, after, run.ok, extra={"load": run.cpu_seconds})
    return _summary(scenario, "fixed" if rate else "saturation", run, cpu, rate)


def run_all(
    url: str,
    meter: CpuMeter,
    creds: list[tuple[str, list[str]]],
    scenarios: list[str],
    *,
    saturation_seconds: float,
    fixed_seconds: float,
    fixed_rate: float,
    say: Any = print,
) -> list[dict[str, Any]]:
    results = []
    for scenario in scenarios:
        for rate in (fixed_rate, None):
            r = run_one(
                url,
                meter,
                creds,
                scenario,
                seconds=fixed_seconds if rate else saturation_seconds,
                rate=rate,
            )
            say(
                f"{scenario}/{r['mode']}: {r['throughput']:,.0f}/s p99 {r['p99_ms']} ms, "
                f"CPU/op {r['cpu_us_per_op'].get('total')} µs, errors {r.get('errors') or 0}"
            )
            results.append(r)
    return results


def profile_under_load(
    url: str,
    creds: list[tuple[str, list[str]]],
    targets: dict[str, int],
    out_dir: Path,
    seconds: float,
) -> dict[str, str]:
    """Deposits at saturation while py-spy samples each target; returns name -> summary
    path (or why not)."""
    if profile.py_spy() is None:
        return {name: "skipped: py-spy is not installed (pip install .[bench])" for name in targets}
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = {name: out_dir / f".profile-{name}.speedscope.json" for name in targets}
    recorders = {
        name: profile.start(pid, seconds, tmp[name]) for name, pid in targets.items() if pid
    }
    time.sleep(0.5)  # py-spy attaches
    lua = wrk.script("deposits", creds, None)
    run = wrk.run(url, lua, seconds=seconds, connections=CONNECTIONS)
    written = {}
    for name, rec in recorders.items():
        if rec is None:
            continue
        try:
            _, err = rec.communicate(timeout=seconds + 30)
        except Exception as exc:  # noqa: BLE001 - report it, keep the bench going
            rec.kill()
            written[name] = f"skipped: py-spy did not finish ({exc})"
            continue
        if rec.returncode != 0 or not tmp[name].exists():
            why = err.decode(errors="replace").strip().splitlines()[:1]
            written[name] = f"skipped: py-spy exited {rec.returncode}: {' '.join(why)}"
            continue
        summary = profile.summarize(tmp[name])
        tmp[name].unlink(missing_ok=True)
        path = out_dir / f"profile-{name}.md"
        note = (
            f"Deposits at saturation (wrk -c{CONNECTIONS}, {run.ok / run.seconds:,.0f}/s) for "
            f"{seconds:.0f} s; py-spy record -r 100 --nonblocking on the {name} process."
        )
        path.write_text(profile.markdown(name, summary, note))
        written[name] = str(path)
    return written
