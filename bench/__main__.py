"""``python -m bench`` (``./task bench``): every scenario, side by side, in one run.

Starts an isolated embedded stack, the API (and CDC + projections for the push
path), then one separate load process over loopback HTTP; writes
bench/results/latest.{json,md,png}. Options: ``--quick`` (short runs), ``--only``
(scenarios), ``--no-baselines``, ``--server uvicorn|granian``, ``--workers N``,
``--env KEY=VALUE`` (API settings, e.g. BANK_DB_POOL_MAX=40), ``--out DIR``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import msgspec
from tqdm import tqdm

from bench import report
from bench.http_scenarios import SCENARIOS
from bench.load import Plan
from bench.rss import RssSampler
from bench.stack import start_api_as, start_pipeline, start_stack, stop_stack

REPO = Path(__file__).resolve().parent.parent
BASELINE_STEPS = 12
BENCH_API_ENV = {"BANK_MONEY_RATE_PER_SECOND": "1000000", "BANK_MONEY_RATE_BURST": "1000000"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="short runs (smoke test of the suite)")
    p.add_argument("--only", nargs="*", choices=SCENARIOS, help="HTTP scenarios to run")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--no-e2e", action="store_true")
    p.add_argument("--no-cdc", action="store_true", help="skip bench.cdc (commit -> Kafka ack)")
    p.add_argument("--server", choices=("uvicorn", "granian"))
    p.add_argument("--workers", type=int)
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--fixed-rate", type=float, default=1000.0)
    p.add_argument("--out", type=Path, default=report.RESULTS)
    p.add_argument("--keep-data", action="store_true")
    return p.parse_args(argv)


def _machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} at start"
    )


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            text=True,
            capture_output=True,
            timeout=5,
        ).stdout.strip()
    except OSError:
        return "?"


def _busy_note() -> str:
    """Other CPU-heavy processes on the machine during the run (others' test suites)."""
    import psutil

    mine = {os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))}
    busy = []
    for p in psutil.process_iter(["pid", "name", "cpu_percent"]):
        if p.info["pid"] not in mine and (p.info["cpu_percent"] or 0) > 20:
            busy.append(f"{p.info['name']}({p.info['cpu_percent']:.0f}%)")
    return ", ".join(busy[:8]) or "none seen"


def _reader(stream: Any, q: queue.Queue[str | None]) -> None:
    for line in stream:
        q.put(line)
    q.put(None)


def run_cdc_bench(st: Any, quick: bool) -> dict[str, Any] | None:
    """bench.cdc (the CDC engineer's: commit -> Kafka ack) on this run's PostgreSQL and broker,
    with its own slot; the app processes are stopped first so that it has the machine."""
    if not (REPO / "bench" / "cdc.py").exists():
        return {"skipped": "bench/cdc.py does not exist"}
    st.stop_apps()
    args = [
        "--external",
        "--events",
        "10000" if quick else "20000",
        "--seconds",
        "3" if quick else "5",
    ]
    print(f"bench: python -m bench.cdc {' '.join(args)}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "bench.cdc", *args],
        cwd=REPO,
        env=st.process_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        return {"skipped": f"bench.cdc exited {done.returncode}: {done.stderr[-500:]}"}
    try:
        result: dict[str, Any] = json.loads((REPO / "bench" / "results" / "cdc.json").read_text())
    except (OSError, ValueError) as exc:
        return {"skipped": f"bench.cdc wrote no results: {exc}"}
    result["command"] = "python -m bench.cdc " + " ".join(args)
    return result


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine = _machine()
    quick = args.quick
    scenarios = list(args.only or SCENARIOS)
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    # The per-user money rate limit protects production; the bench's one customer
    # must not be throttled (the API inherits this process's environment).
    for key, value in BENCH_API_ENV.items():
        os.environ.setdefault(key, value)
    print(f"bench: starting an isolated stack ({machine})", flush=True)
    st = start_stack()
    sampler = RssSampler()
    load_rss: float | None = None
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    try:
        api = start_api_as(st, args.server, args.workers, extra_env)
        e2e_reason = "--no-e2e" if args.no_e2e else start_pipeline(st)
        for name in ("api", "cdc", "projections", "redis", "kafka"):
            if name in st.processes:
                p = st.processes[name]
                sampler.track(name, lambda p=p: p.pid if p.alive else None)  # type: ignore[misc]
        sampler.track("postgres", st.postgres.running_pid)
        sampler.start()
        plan = Plan(
            api_url=st.api_url,
            admin_database_url=st.admin_database_url,
            fixed_rate=args.fixed_rate,
            fixed_seconds=1.5 if quick else 4.0,
            saturation_seconds=2.0 if quick else 5.0,
            accounts=60 if quick else 300,
            scenarios=scenarios,
            e2e=not args.no_e2e,
            e2e_skip_reason=e2e_reason,
            baselines=not args.no_baselines,
            copy_commands=8_000 if quick else 60_000,
            batch_saturation_size=2000 if quick else 8190,
        )
        plan_path = Path(tempfile.mkstemp(prefix="bench-plan-", suffix=".json")[1])
        plan_path.write_bytes(msgspec.json.encode(plan))
        total = 1 + 2 * len(scenarios) + 1 + (0 if args.no_baselines else BASELINE_STEPS)
        env = st.process_env()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load", str(plan_path)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        sampler.track("load", lambda: proc.pid if proc.poll() is None else None)
        q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
        tty = sys.stderr.isatty()
        with tqdm(
            total=total,
            unit="step",
            desc="bench",
            dynamic_ncols=True,
            mininterval=0.5 if tty else 30.0,
        ) as bar:
            while True:
                try:
                    line = q.get(timeout=0.5)
                except queue.Empty:
                    if tty:
                        bar.refresh()  # keeps the elapsed time moving between steps
                    continue
                if line is None:
                    break
                msg = json.loads(line)
                if msg.get("done"):
                    load_rss = msg.get("peak_rss_mb")
                    continue
                step = msg.get("step", "?")
                if "summary" in msg:
                    s = msg["summary"]
                    results.append(s)
                    bar.set_postfix_str(
                        f"{step}: {s['throughput']:,.0f}/s p99 {s.get('p99_ms')} ms"
                    )
                elif "skipped" in msg:
                    skipped.append({"step": step, "reason": msg["skipped"]})
                    bar.write(f"skipped {step}: {msg['skipped']}")
                else:
                    bar.write(f"{step}: {msg.get('info', '')}")
                bar.update(1)
        rc = proc.wait()
        plan_path.unlink(missing_ok=True)
        if rc != 0:
            print(f"bench: the load process exited with {rc}", file=sys.stderr)
        busy = _busy_note()
        cdc = None if args.no_cdc else run_cdc_bench(st, quick)
    finally:
        try:
            sampler.stop()
        finally:  # the servers run detached: never leave them behind
            stop_stack(st, keep=args.keep_data)
    peak = dict(sampler.peak_mb)
    if load_rss is not None:
        peak["load"] = max(load_rss, peak.get("load", 0.0))
    doc = {
        "started_at": started,
        "command": "python -m bench " + shlex.join(argv),
        "machine": machine,
        "commit": _commit(),
        "load_note": f"other busy processes at the end: {busy}; load average at end "
        f"{os.getloadavg()[0]:.2f}",
        "server": args.server or "uvicorn (infra.local default)",
        "workers": args.workers or 1,
        "api_env": {**BENCH_API_ENV, **extra_env},
        "fixed_rate": args.fixed_rate,
        "results": results,
        "skipped": skipped,
        "peak_rss_mb": peak,
        "peak_rss_sum_mb": sampler.peak_sum_mb,
        "process_counts": sampler.processes,
        "cdc": cdc,
    }
    paths = report.write(doc, args.out)
    print(report.markdown(doc))
    print("bench: wrote " + ", ".join(str(p) for p in paths.values()))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
