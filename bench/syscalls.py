"""System calls and context switches per command, each process: where the kernel is paid.

    python -m bench.syscalls [--scenario deposits] [--seconds 12] [--rounds 1] [--out FILE.json]

Starts an isolated stack as ``python -m bench`` does (the API, CDC, the projection
worker and the notification consumer), signs up its customers and tellers, and drives
one wrk scenario at saturation (``deposits``: the tellers' cash deposits), with the
bench's API settings (no money rate limit: a 429 would cost CPU and serve nothing).
Before and after each run it reads, for every process and its descendants,
``/proc/PID/io`` (``syscr``/``syscw``: read- and write-family calls, which counts
``read``/``write`` on sockets and files but not ``send``/``recv``), the context
switches and the CPU time, and prints them per command served. Linux only. ADR 0340
was decided with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import psutil

from bench import wrk, wrk_scenarios
from bench.cpu import process_tree_cpu
from bench.stack import BENCH_API_ENV, measured_pids, running_stack

COUNTERS = ("cpu_us", "reads", "writes", "voluntary_switches", "involuntary_switches")


def _io(pid: int) -> dict[str, int]:
    fields = dict(
        line.split(": ", 1) for line in Path(f"/proc/{pid}/io").read_text().splitlines() if line
    )
    return {"reads": int(fields["syscr"]), "writes": int(fields["syscw"])}


def tree_counters(pid: int) -> dict[str, float]:
    """The counters of ``pid`` and its live descendants, summed. ``cpu_us`` is read as
    every bench figure is (``bench.cpu.process_tree_cpu``: children it reaped count too);
    the system calls and switches of a reaped child are gone with its /proc entry."""
    root = psutil.Process(pid)
    out = dict.fromkeys(COUNTERS, 0.0)
    out["cpu_us"] = process_tree_cpu(root) * 1e6
    for proc in [root, *root.children(recursive=True)]:
        try:
            io = _io(proc.pid)
            switches = proc.num_ctx_switches()
        except (psutil.Error, OSError):  # gone since the listing
            continue
        out["reads"] += io["reads"]
        out["writes"] += io["writes"]
        out["voluntary_switches"] += switches.voluntary
        out["involuntary_switches"] += switches.involuntary
    return out


def per_command(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], commands: int
) -> dict[str, dict[str, float]]:
    """Each process's counters over the run, divided by the commands served."""
    if commands <= 0:
        return {}
    return {
        name: {k: round((after[name][k] - before[name][k]) / commands, 2) for k in COUNTERS}
        for name in after
        if name in before
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.syscalls", description=__doc__)
    parser.add_argument("--scenario", default="deposits", choices=sorted(wrk.SCENARIOS))
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with running_stack("bench.syscalls", BENCH_API_ENV) as st:
        creds = wrk_scenarios.scenario_creds(st, args.scenario)
        pids = measured_pids(st)
        for n in range(args.rounds):
            lua = wrk.script(args.scenario, creds, None)
            before = {name: tree_counters(pid) for name, pid in pids.items()}
            run = wrk.run(st.api_url, lua, seconds=args.seconds, connections=32)
            after = {name: tree_counters(pid) for name, pid in pids.items()}
            row = {
                "round": n,
                "scenario": args.scenario,
                "commands": run.ok,
                "errors": run.errors,
                "per_second": round(run.ok / args.seconds, 1),
                "load_average": round(os.getloadavg()[0], 2),
                "per_command": per_command(before, after, run.ok),
            }
            rows.append(row)
            print(
                f"round {n}: {row['per_second']:,}/s, errors {run.errors or 0},"
                f" load average {row['load_average']}"
            )
            for name, c in row["per_command"].items():
                print(
                    f"  {name:14s} cpu {c['cpu_us']:8.1f} µs  reads {c['reads']:6.2f}"
                    f"  writes {c['writes']:6.2f}  switches {c['voluntary_switches']:5.2f}"
                    f" + {c['involuntary_switches']:5.2f} involuntary"
                )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
