"""``python -m bench.push_latency``: deposit → WebSocket push latency at a fixed rate on
a fresh bench stack, with every process's CPU per deposit (~1 min).

The e2e_push scenario of ``python -m bench`` alone, for A/B runs of a setting of the
pipeline: the API, the CDC connector, the projection worker and the notification
consumer run as the bench runs them (``bench.stack``); the load comes from this
process, whose CPU is reported as ``load``. ``--env KEY=VALUE`` is passed to every
process of the stack. Each topic recycle the connector made meanwhile (cdc/recycle.py)
is listed with its hold: the seconds until the readers were at the end, then until
they were on the new topics, from the connector's log.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import psutil

from bench.cpu import CpuMeter
from bench.e2e import run_e2e
from bench.priority import lower_read_side
from bench.rss import RssSampler
from bench.stack import (
    BENCH_API_ENV,
    bootstrap_admin,
    measured_pids,
    running_stack,
    track_processes,
)
from bench.wrk_scenarios import make_tellers


async def _measure(st: Any, meter: CpuMeter, rate: float, seconds: float) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        (teller,) = await make_tellers(st.api_url, bootstrap_admin(st), 1)
        me = psutil.Process()
        before, load_before = meter.snapshot(), sum(me.cpu_times()[:2])
        summary = await run_e2e(st.api_url, http, teller, rate=rate, seconds=seconds)
        after, load_after = meter.snapshot(), sum(me.cpu_times()[:2])
    ops = summary.ok
    cpu = CpuMeter.per_op(before, after, ops, {"load": load_after - load_before})
    return {
        "ok": summary.ok,
        "errors": summary.errors,
        "throughput": summary.throughput,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "max_ms": summary.max_ms,
        "cpu_us_per_deposit": cpu,
    }


_RECYCLED = re.compile(
    r"readers at the end (?P<at_end>[0-9.]+) s after the pause, on the new topics"
    r" (?P<on_new>[0-9.]+) s later"
)


class Recycle(NamedTuple):
    """One topic recycle from the connector's log: when its hold ended (Unix time), the
    seconds until the readers were at the end, then until they were on the new topics."""

    ended_at: float
    at_end: float
    on_new: float

    @property
    def started_at(self) -> float:
        return self.ended_at - self.at_end - self.on_new


def recycles(cdc_log: Path) -> list[Recycle]:
    """Every recycle in the connector's log (JSON lines), in order."""
    text = cdc_log.read_text(errors="replace") if cdc_log.exists() else ""
    found = []
    for line in text.splitlines():
        m = _RECYCLED.search(line)
        if m is None:
            continue
        try:
            stamp = json.loads(line).get("@timestamp")
        except ValueError:
            stamp = None
        at = dt.datetime.fromisoformat(stamp).timestamp() if stamp else float("nan")
        found.append(Recycle(at, float(m["at_end"]), float(m["on_new"])))
    return found


def recycle_holds(cdc_log: Path) -> list[tuple[float, float]]:
    """(seconds until the readers were at the end, seconds more until they were on the
    new topics) for each recycle in the connector's log."""
    return [(r.at_end, r.on_new) for r in recycles(cdc_log)]


def during(found: list[Recycle], start: float, end: float) -> list[Recycle]:
    """The recycles whose hold overlapped [start, end] (Unix times)."""
    return [r for r in found if r.started_at <= end and r.ended_at >= start]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--read-side-nice", type=int, default=0, help="as python -m bench --read-side-nice"
    )
    args = parser.parse_args()
    for key, value in [*BENCH_API_ENV.items(), *(kv.split("=", 1) for kv in args.env)]:
        os.environ[key] = value
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with running_stack("bench.push_latency", {}) as st:  # the settings are in os.environ
        if args.read_side_nice:
            lower_read_side(measured_pids(st), args.read_side_nice)
        meter = CpuMeter()
        track_processes(st, RssSampler(), meter)
        result = asyncio.run(_measure(st, meter, args.rate, args.seconds))
        result["recycle_holds_s"] = recycle_holds(st.processes["cdc"].log_path)
        print(result, flush=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
