"""``python -m bench`` (``./task bench``): every scenario, side by side, in one run.

Starts an isolated embedded stack, the API, CDC and the projection worker. The
single-command HTTP scenarios (deposits, transfers, GET balance) are driven by
Debian's ``wrk`` (C; installed with apt-get when missing); the rest (batch, the
WebSocket push, the baselines) by a separate Python load process. Every scenario
reports the CPU each process spent per operation, the load generator included, and
py-spy profiles of the API and the connector under the deposit load are summarised
in bench/results/profile-*.md. Writes bench/results/latest.{json,md,png}.
Options: ``--quick`` (short runs), ``--only`` (scenarios), ``--no-baselines``,
``--server uvicorn|granian``, ``--workers N``, ``--env KEY=VALUE`` (API settings,
e.g. BANK_DB_POOL_MAX=40), ``--no-profile``, ``--out DIR``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
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

from bench import host, push_latency, report, wrk_scenarios
from bench.cpu import CpuMeter
from bench.http_scenarios import SCENARIOS
from bench.load import PUSH_SECONDS, Plan
from bench.priority import lower_read_side
from bench.rss import RssSampler
from bench.stack import (
    BENCH_API_ENV,
    bootstrap_admin,
    measured_pids,
    start_api_as,
    start_pipeline,
    start_stack,
    stop_stack,
    track_processes,
)
from bench.stats import find_result
from bench.wrk import SCENARIOS as WRK_SCENARIOS

REPO = Path(__file__).resolve().parent.parent
BASELINE_STEPS = 12


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="short runs (smoke test of the suite)")
    p.add_argument("--only", nargs="*", choices=SCENARIOS, help="HTTP scenarios to run")
    p.add_argument(
        "--python-load",
        action="store_true",
        help="drive every HTTP scenario from the Python load process (no wrk)",
    )
    p.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    p.add_argument(
        "--wrk-only",
        action="store_true",
        help="only the wrk scenarios (with --only deposits: one scenario's CPU per process); "
        "no Python load process, batch, push, baselines, RSS fill or bench.cdc",
    )
    p.add_argument(
        "--saturation-only", action="store_true", help="wrk scenarios at saturation only"
    )
    p.add_argument(
        "--rounds", type=int, default=1, help="repeat each wrk scenario N times (same stack)"
    )
    p.add_argument(
        "--profile-targets",
        nargs="*",
        default=["api", "cdc"],
        choices=("api", "cdc", "projections"),
        help="processes py-spy samples under the deposit load",
    )
    p.add_argument(
        "--rss-events",
        type=int,
        help="fill the store to N events before reading every process's RSS "
        "(default 1,000,000; 20,000 with --quick; 0 skips)",
    )
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument(
        "--no-e2e",
        action="store_true",
        help="skip the push scenario and start no read side (connector, projection worker, "
        "notification consumer): the write path alone; reads then fold from the event store",
    )
    p.add_argument("--no-cdc", action="store_true", help="skip bench.cdc (commit -> Kafka ack)")
    p.add_argument("--server", choices=("uvicorn", "granian"))
    p.add_argument("--workers", type=int)
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--fixed-rate", type=float, default=1000.0)
    p.add_argument("--out", type=Path, default=report.RESULTS)
    p.add_argument("--keep-data", action="store_true")
    p.add_argument(
        "--read-side-nice",
        type=int,
        default=0,
        help="run the connector, projection worker, notification consumer and broker at "
        "this nice, set on their scheduling groups (bench/priority.py, docs/adr/0328)",
    )
    return p.parse_args(argv)


def _machine() -> str:
    """The host's speed now (bench/host.py), beside the interpreter its CPU probe ran on."""
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} at start, "
        f"{host.speed()}, "
        f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})"
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


def run_cdc_bench(st: Any, quick: bool, out_dir: Path) -> dict[str, Any] | None:
    """bench.cdc (the CDC engineer's: commit -> Kafka ack) on this run's PostgreSQL and broker,
    with its own slot; the app processes are stopped first so that it has the machine."""
    if not (REPO / "bench" / "cdc.py").exists():
        return {"skipped": "bench/cdc.py does not exist"}
    st.stop_apps()
    # 100,000 events (bench.cdc's own default) append for ~2 s: with 20,000 (~0.5 s)
    # the same stack gave 26,000-47,000 events/s run to run (docs/adr/0321).
    shown = ["--external", "--events", "10000" if quick else "100000"]
    shown += ["--seconds", "3" if quick else "5"]
    args = [*shown, "--out", str(out_dir / "cdc.json")]  # beside this run's latest.json
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
        result: dict[str, Any] = json.loads((out_dir / "cdc.json").read_text())
    except (OSError, ValueError) as exc:
        return {"skipped": f"bench.cdc wrote no results: {exc}"}
    result["command"] = "python -m bench.cdc " + " ".join(shown)
    return result


def _events_in_store(st: Any) -> int | None:
    import psycopg2

    try:
        conn = psycopg2.connect(st.admin_database_url, connect_timeout=5)
    except psycopg2.Error:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM events")
            row = cur.fetchone()
            return int(row[0]) if row else None
    finally:
        conn.close()


def _wrk_phase(
    st: Any, meter: CpuMeter, names: list[str], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Deposits, transfers and GET balance from wrk; then the py-spy profiles."""
    quick = args.quick
    print(f"bench: wrk scenarios {', '.join(names)}", flush=True)
    creds = wrk_scenarios.make_creds(st.api_url, customers=8, accounts=60 if quick else 300)
    tellers = wrk_scenarios.teller_creds(st.api_url, bootstrap_admin(st), creds)
    results = wrk_scenarios.run_all(
        st.api_url,
        meter,
        creds,
        names,
        saturation_seconds=3 if quick else 15,
        fixed_seconds=3 if quick else 10,
        fixed_rate=None if args.saturation_only else args.fixed_rate,
        tellers=tellers,
        rounds=args.rounds,
        say=lambda m: print(f"bench: {m}", flush=True),
    )
    profiles: dict[str, str] = {}
    if not args.no_profile and "deposits" in names:
        wanted = args.profile_targets
        targets = {n: st.processes[n].pid for n in wanted if n in st.processes}
        profiles = wrk_scenarios.profile_under_load(
            st.api_url, tellers, targets, args.out, seconds=4 if quick else 12
        )
        print(f"bench: profiles {profiles}", flush=True)
    return results, profiles


class _Run:
    """What one bench run collects."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.profiles: dict[str, str] = {}
        self.load_rss: float | None = None
        self.notes: dict[str, str] = {}  # step -> what it said (the RSS fill's outcome)


def _plan(st: Any, args: argparse.Namespace, scenarios: list[str], e2e_reason: str) -> Plan:
    quick = args.quick
    return Plan(
        api_url=st.api_url,
        admin_database_url=st.admin_database_url,
        fixed_rate=args.fixed_rate,
        fixed_seconds=1.5 if quick else 4.0,
        push_seconds=3.0 if quick else PUSH_SECONDS,
        saturation_seconds=2.0 if quick else 5.0,
        accounts=60 if quick else 300,
        scenarios=scenarios,
        e2e=not args.no_e2e,
        e2e_skip_reason=e2e_reason,
        admin_credentials=list(bootstrap_admin(st)),
        baselines=not args.no_baselines,
        copy_commands=8_000 if quick else 60_000,
        batch_saturation_size=2000 if quick else 8190,
        rss_events=args.rss_events if args.rss_events is not None else (20_000 if quick else 10**6),
    )


def _on_line(
    msg: dict[str, Any], run: _Run, cpu: tuple[dict[str, float], dict[str, float]], bar: Any
) -> None:
    step = msg.get("step", "?")
    if "summary" in msg:
        s = msg["summary"]
        # CPU since the previous step's line: this step (and its own setup).
        s["cpu_us_per_op"] = CpuMeter.per_op(cpu[0], cpu[1], s["ok"])
        s["generator"] = "python (bench.load)"
        if msg.get("window"):
            s["window"] = msg["window"]
        run.results.append(s)
        bar.set_postfix_str(f"{step}: {s['throughput']:,.0f}/s p99 {s.get('p99_ms')} ms")
    elif "skipped" in msg:
        run.skipped.append({"step": step, "reason": msg["skipped"]})
        bar.write(f"skipped {step}: {msg['skipped']}")
    else:
        run.notes[step] = msg.get("info", "")
        bar.write(f"{step}: {run.notes[step]}")
    bar.update(1)


def _python_load(
    st: Any, plan: Plan, total: int, meter: CpuMeter, sampler: RssSampler, run: _Run
) -> int:
    """The Python load process (batch, push, baselines); returns its exit code."""
    plan_path = Path(tempfile.mkstemp(prefix="bench-plan-", suffix=".json")[1])
    plan_path.write_bytes(msgspec.json.encode(plan))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.load", str(plan_path)],
        cwd=REPO,
        env=st.process_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    sampler.track("load", lambda: proc.pid if proc.poll() is None else None)
    meter.track("load", lambda: proc.pid if proc.poll() is None else None)
    last_cpu = meter.snapshot()
    q: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
    tty = sys.stderr.isatty()
    bar_opts = {"unit": "step", "desc": "bench", "dynamic_ncols": True}
    with tqdm(total=total, mininterval=0.5 if tty else 30.0, **bar_opts) as bar:
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
                run.load_rss = msg.get("peak_rss_mb")
                continue
            if "mark" in msg:  # a step's setup is done: its CPU counts from here
                last_cpu = meter.snapshot()
                continue
            now_cpu = meter.snapshot()
            _on_line(msg, run, (last_cpu, now_cpu), bar)
            last_cpu = now_cpu
    rc = proc.wait()
    plan_path.unlink(missing_ok=True)
    if rc != 0:
        print(f"bench: the load process exited with {rc}", file=sys.stderr)
    return rc


def _note_recycles_during_push(st: Any, results: list[dict[str, Any]]) -> None:
    """The topic recycles whose hold fell inside the push scenario, from the connector's
    log (read before the stack is stopped, which removes it): each is a stretch in which
    no deposit reaches a socket (docs/adr/0355)."""
    push = find_result(results, "ours", "e2e_push", "fixed")
    if push is None or not push.get("window") or "cdc" not in st.processes:
        return
    start, end = push["window"]
    holds = push_latency.during(push_latency.recycles(st.processes["cdc"].log_path), start, end)
    push["recycles_during"] = [[r.at_end, r.on_new] for r in holds]
    said = ", ".join(f"{r.at_end:.2f} + {r.on_new:.2f} s" for r in holds) or "none"
    push["note"] = f"{push.get('note', '')}; topic recycles during it (holds): {said}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine = _machine()
    scenarios = list(args.only or SCENARIOS)
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    # The per-user money rate limit protects production; the bench's customers
    # must not be throttled (the API inherits this process's environment).
    for key, value in BENCH_API_ENV.items():
        os.environ.setdefault(key, value)
    print(f"bench: starting an isolated stack ({machine})", flush=True)
    st = start_stack()
    sampler = RssSampler()
    meter = CpuMeter()
    run = _Run()
    try:
        start_api_as(st, args.server, args.workers, extra_env)
        e2e_reason = "--no-e2e" if args.no_e2e else start_pipeline(st)
        if args.read_side_nice:
            lower_read_side(measured_pids(st), args.read_side_nice)
        track_processes(st, sampler, meter)
        sampler.start()
        wrk_names = [] if args.python_load else [s for s in scenarios if s in WRK_SCENARIOS]
        if wrk_names:
            wrk_results, run.profiles = _wrk_phase(st, meter, wrk_names, args)
            run.results.extend(wrk_results)
        scenarios = [s for s in scenarios if s not in wrk_names]
        rc = 0
        if not args.wrk_only:
            total = 2 + 2 * len(scenarios) + 1 + (0 if args.no_baselines else BASELINE_STEPS)
            plan = _plan(st, args, scenarios, e2e_reason)
            rc = _python_load(st, plan, total, meter, sampler, run)
        _note_recycles_during_push(st, run.results)
        busy = _busy_note()
        events_in_store = _events_in_store(st)
        final_rss = sampler.current_mb()
        cdc = None if args.no_cdc or args.wrk_only else run_cdc_bench(st, args.quick, args.out)
    finally:
        try:
            sampler.stop()
        finally:  # the servers run detached: never leave them behind
            stop_stack(st, keep=args.keep_data)
    results, skipped, profiles, load_rss = run.results, run.skipped, run.profiles, run.load_rss
    peak = dict(sampler.peak_mb)
    if load_rss is not None:
        peak["load"] = max(load_rss, peak.get("load", 0.0))
    doc = {
        "started_at": started,
        "command": "python -m bench " + shlex.join(argv),
        "machine": machine,
        "cores": os.cpu_count(),  # what bench.capacity divides by
        "commit": _commit(),
        "load_note": f"other busy processes at the end: {busy}; load average at end "
        f"{os.getloadavg()[0]:.2f}, {host.speed()}",
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
        "profiles": profiles,
        "events_in_store": events_in_store,
        "rss_fill": run.notes.get("rss_fill"),
        "final_rss_mb": final_rss,
    }
    paths = report.write(doc, args.out)
    print(report.markdown(doc))
    print("bench: wrote " + ", ".join(str(p) for p in paths.values()))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
