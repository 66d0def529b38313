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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpu import MEASURED_PROCESSES
from bench.report import RESULTS
from bench.stats import find_result

# (what the operator plans for, the bench scenario whose saturation run measures it)
WORKLOADS = (
    ("single deposits over HTTP", "deposits"),
    ("single transfers over HTTP", "transfers_uniform"),
    ("transfers through the batch endpoint", "batch_transfers"),
)
RATES = (10_000, 100_000)
UTILISATION = 0.6
CEILING = "cores × 10⁶ ÷ total µs"  # how ``ceiling`` is computed, as the report states it


@dataclass(frozen=True)
class Workload:
    """One workload as the run measured it: its saturation rate and the µs of CPU every
    platform process spent per command."""

    name: str
    throughput: float
    us: dict[str, float]

    @property
    def total_us(self) -> float:
        return sum(self.us.values())


def measured_workloads(doc: dict[str, Any]) -> list[Workload]:
    """The workloads the run measured at saturation with CPU per command (the load
    generator left out)."""
    found = []
    for name, scenario in WORKLOADS:
        run = find_result(doc["results"], "ours", scenario, "saturation")
        if run is None or not run.get("cpu_us_per_op"):
            continue
        per_op = run["cpu_us_per_op"]
        us = {p: float(per_op.get(p) or 0.0) for p in MEASURED_PROCESSES}
        found.append(Workload(name, run["throughput"], us))
    return found


def cores_needed(us_per_command: float, rate: float, utilisation: float = UTILISATION) -> float:
    return rate * us_per_command / 1e6 / utilisation


def ceiling(us_per_command: float, cores: int) -> float:
    """Commands a second at which the platform alone would keep every core busy."""
    return cores * 1e6 / us_per_command if us_per_command else float("inf")


def machine_cores(doc: dict[str, Any]) -> int:
    """The cores of the measured machine. Records written before the bench stored
    ``cores`` have them only at the start of ``machine`` ("N cores, load average …")."""
    if "cores" in doc:
        return int(doc["cores"])
    return int(str(doc["machine"]).split(" cores", 1)[0])


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _separator(numeric_columns: int) -> str:
    """A table's header rule: the name column, then right-aligned numbers."""
    return "|---|" + "---:|" * numeric_columns


def _us(values: Iterable[float]) -> list[str]:
    return [f"{v:,.1f}" for v in values]


def markdown(doc: dict[str, Any], workloads: list[Workload]) -> str:
    """The plan's tables for ``workloads``, measured in the run ``doc`` records."""
    cores = machine_cores(doc)
    lines = [
        f"From the bench run of {doc['started_at']} at {doc['commit']} ({doc['machine']}).",
        "",
        "### µs of CPU per command, each process (saturation runs)",
        "",
        _row("workload", "measured/s", *MEASURED_PROCESSES, "total"),
        _separator(len(MEASURED_PROCESSES) + 2),
    ]
    for w in workloads:
        lines.append(_row(w.name, f"{w.throughput:,.0f}", *_us(w.us.values()), *_us([w.total_us])))
    lines += [
        "",
        f"### What the measured machine sustains ({cores} cores, the platform alone at 100 %)",
        "",
        "A burst can go past its ceiling for a while: the connector and the projection "
        "worker fall behind during it and catch up after (the batch endpoint's rate is "
        "measured over its burst, its CPU until the read side has caught up).",
        "",
        _row("workload", f"ceiling/s = {CEILING}", "measured/s", "share of the ceiling"),
        _separator(3),
    ]
    for w in workloads:
        top = ceiling(w.total_us, cores)
        lines.append(
            _row(w.name, f"{top:,.0f}", f"{w.throughput:,.0f}", f"{w.throughput / top:.0%}")
        )
    for rate in RATES:
        lines += [
            "",
            f"### Cores at {rate:,} commands/s (rate × µs ÷ 10⁶ ÷ {UTILISATION})",
            "",
            _row("workload", *MEASURED_PROCESSES, "total"),
            _separator(len(MEASURED_PROCESSES) + 1),
        ]
        for w in workloads:
            need = [cores_needed(us, rate) for us in w.us.values()]
            lines.append(_row(w.name, *_us(need), *_us([sum(need)])))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    doc = json.loads(args.results.read_text())
    workloads = measured_workloads(doc)
    if not workloads:
        print(f"{args.results}: no saturation run with CPU per command", file=sys.stderr)
        return 1
    print(markdown(doc, workloads))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
