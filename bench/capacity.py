"""``python -m bench.capacity``: the cores each process needs at a given rate, from the CPU
per command that one bench run measured (docs/capacity.md is the plan built on it).

For each workload, the saturation run of one scenario gives the µs of CPU that every
process of the platform spent per command. From those:
- cores at a rate = rate × µs ÷ 10⁶ ÷ utilisation (headroom for bursts, GC, a lost zone);
- the ceiling of the measured machine = its cores × 10⁶ ÷ the sum of µs, the sustained rate
  at which the platform alone would use every core (the load generator is left out: it is not part
  of the platform, and a real deployment does not run it beside the API).
Nothing is run at these rates: it is arithmetic on measured unit costs, and the co-located
processes of a 2-core machine share caches and cores, so dedicated nodes should do
better per command, not worse.

Reads ``bench/results/latest.json``; ``--results PATH`` reads another run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.cpu import MEASURED_PROCESSES
from bench.report import RESULTS, find_result

# (what the operator plans for, the bench scenario whose saturation run measures it)
WORKLOADS = (
    ("single deposits over HTTP", "deposits"),
    ("single transfers over HTTP", "transfers_uniform"),
    ("transfers through the batch endpoint", "batch_transfers"),
)
RATES = (10_000, 100_000)
UTILISATION = 0.6


def unit_costs(doc: dict[str, Any]) -> dict[str, dict[str, float]]:
    """µs of CPU per command of every platform process, per workload the run measured."""
    costs: dict[str, dict[str, float]] = {}
    for workload, scenario in WORKLOADS:
        run = find_result(doc["results"], "ours", scenario, "saturation")
        if run is None or not run.get("cpu_us_per_op"):
            continue
        per_op = run["cpu_us_per_op"]
        costs[workload] = {p: float(per_op.get(p) or 0.0) for p in MEASURED_PROCESSES}
    return costs


def cores_needed(us_per_command: float, rate: float, utilisation: float = UTILISATION) -> float:
    return rate * us_per_command / 1e6 / utilisation


def ceiling(us_per_command: float, cores: int) -> float:
    """Commands a second at which the platform alone would keep every core busy."""
    return cores * 1e6 / us_per_command if us_per_command else float("inf")


def machine_cores(doc: dict[str, Any]) -> int:
    """The bench writes its machine as "N cores, load average …"."""
    return int(str(doc["machine"]).split(" cores", 1)[0])


def markdown(doc: dict[str, Any]) -> str:
    costs = unit_costs(doc)
    cores = machine_cores(doc)
    processes = " | ".join(MEASURED_PROCESSES)
    lines = [
        f"From the bench run of {doc['started_at']} at {doc['commit']} ({doc['machine']}).",
        "",
        "### µs of CPU per command, each process (saturation runs)",
        "",
        f"| workload | measured/s | {processes} | total |",
        "|---|---:|" + "---:|" * (len(MEASURED_PROCESSES) + 1),
    ]
    for workload, scenario in WORKLOADS:
        if workload not in costs:
            continue
        run = find_result(doc["results"], "ours", scenario, "saturation")
        assert run is not None
        us = costs[workload]
        lines.append(
            f"| {workload} | {run['throughput']:,.0f} | "
            + " | ".join(f"{us[p]:,.1f}" for p in MEASURED_PROCESSES)
            + f" | {sum(us.values()):,.1f} |"
        )
    lines += [
        "",
        f"### What the measured machine sustains ({cores} cores, the platform alone at 100 %)",
        "",
        "A burst can go past its ceiling for a while: the connector and the projection "
        "worker fall behind during it and catch up after (the batch endpoint's rate is "
        "measured over its burst, its CPU until the read side has caught up).",
        "",
        "| workload | ceiling/s = cores × 10⁶ ÷ total µs | measured/s | share of the ceiling |",
        "|---|---:|---:|---:|",
    ]
    for workload, scenario in WORKLOADS:
        if workload not in costs:
            continue
        run = find_result(doc["results"], "ours", scenario, "saturation")
        assert run is not None
        top = ceiling(sum(costs[workload].values()), cores)
        lines.append(
            f"| {workload} | {top:,.0f} | {run['throughput']:,.0f} | "
            f"{run['throughput'] / top:.0%} |"
        )
    for rate in RATES:
        lines += [
            "",
            f"### Cores at {rate:,} commands/s (rate × µs ÷ 10⁶ ÷ {UTILISATION})",
            "",
            f"| workload | {processes} | total |",
            "|---|" + "---:|" * (len(MEASURED_PROCESSES) + 1),
        ]
        for workload, us in costs.items():
            need = {p: cores_needed(us[p], rate) for p in MEASURED_PROCESSES}
            lines.append(
                f"| {workload} | "
                + " | ".join(f"{need[p]:,.1f}" for p in MEASURED_PROCESSES)
                + f" | {sum(need.values()):,.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    doc = json.loads(args.results.read_text())
    if not unit_costs(doc):
        print(f"{args.results}: no saturation run with CPU per command", file=sys.stderr)
        return 1
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
