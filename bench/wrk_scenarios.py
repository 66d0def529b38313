"""The single-command HTTP scenarios driven by wrk, each with the CPU every process spent
per command; and a py-spy profile of the API and the connector under the deposit load."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from bench import profile, wrk
from bench.cpu import CpuMeter
from bench.fixtures import PASSWORD, open_accounts, sign_up
from bench.stack import bootstrap_admin
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


async def _token(http: aiohttp.ClientSession, api: str, email: str, password: str) -> str:
    async with http.post(
        f"{api}/api/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
    ) as r:
        body = await r.json(content_type=None)
        if r.status != 200:
            raise RuntimeError(f"sign-in of {email} -> {r.status}: {body}")
        return str(body["access_token"])


async def make_tellers(api: str, admin: tuple[str, str], n: int) -> list[str]:
    """``n`` new users made tellers by the bootstrap admin; their tokens (signed in after
    the role change, which ends earlier sessions)."""
    tokens = []
    async with aiohttp.ClientSession() as http:
        boss = {"Authorization": "Bearer " + await _token(http, api, *admin)}
        for i in range(n):
            who = await sign_up(http, api, f"teller{i}")
            async with http.put(
                f"{api}/api/v1/admin/users/{who.user_id}/role",
                json={"role": "teller"},
                headers=boss,
            ) as r:
                if r.status != 200:
                    raise RuntimeError(f"making a teller -> {r.status}: {await r.text()}")
            tokens.append(await _token(http, api, who.email, PASSWORD))
    return tokens


def teller_creds(
    api: str, admin: tuple[str, str], customers: list[tuple[str, list[str]]], tellers: int = 8
) -> list[tuple[str, list[str]]]:
    """Tellers' tokens, each with a share of the customers' accounts: a teller's deposit is
    the production deposit (cash at the desk); a customer's own is a development top-up."""
    tokens = asyncio.run(make_tellers(api, admin, tellers))
    everyone = [a for _, accounts in customers for a in accounts]
    return [(t, everyone[i :: len(tokens)]) for i, t in enumerate(tokens)]


def scenario_creds(st: Any, scenario: str) -> list[tuple[str, list[str]]]:
    """The wrk credentials ``scenario`` runs with on the bench stack ``st``: customers
    with their accounts, and for ``deposits`` tellers with a share of those accounts."""
    creds = make_creds(st.api_url)
    if scenario == "deposits":
        creds = teller_creds(st.api_url, bootstrap_admin(st), creds)
    return creds


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
    if run.first_error:
        doc["first_error"] = run.first_error
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
    lua = wrk.script(scenario, creds, rate)  # one wrk thread (-t1): its rate is the rate
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
    fixed_rate: float | None,
    tellers: list[tuple[str, list[str]]] | None = None,
    rounds: int = 1,
    say: Any = print,
) -> list[dict[str, Any]]:
    """Each scenario at ``fixed_rate`` (None: skipped), then at saturation, ``rounds`` times.
    ``deposits`` are the tellers' (cash), the rest the customers'."""
    results = []
    rates = ([fixed_rate] if fixed_rate else []) + [None]
    for scenario in scenarios:
        for rate in rates * max(1, rounds):
            r = run_one(
                url,
                meter,
                tellers if scenario == "deposits" and tellers else creds,
                scenario,
                seconds=fixed_seconds if rate else saturation_seconds,
                rate=rate,
            )
            r["load_average"] = round(os.getloadavg()[0], 2)
            say(
                f"{scenario}/{r['mode']}: {r['throughput']:,.0f}/s p99 {r['p99_ms']} ms, "
                f"load {r['load_average']}, CPU/op {r['cpu_us_per_op']}, "
                f"errors {r.get('errors') or 0}"
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
            f"Tellers' cash deposits at saturation (wrk -c{CONNECTIONS}, "
            f"{run.ok / run.seconds:,.0f}/s) for {seconds:.0f} s; "
            f"py-spy record -r 100 --nonblocking on the {name} process."
        )
        path.write_text(profile.markdown(name, summary, note))
        written[name] = str(path)
    return written
