"""The chaos run as a table of recovery times per fault and a list of verdicts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.chaos.run import ChaosResult


def _s(x: float | None) -> str:
    return "never" if x is None else f"{x:.1f}"


def markdown(result: ChaosResult, commit: str = "") -> str:
    load = os.getloadavg()
    lines = [
        f"# Chaos run ({result.profile})",
        "",
        f"{'PASSED' if result.ok else 'FAILED'} in {result.seconds:.0f}s"
        + (f" at {commit}" if commit else "")
        + f"; load average at the end {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} "
        f"({os.cpu_count()} cores)",
        "",
        f"Commands: {result.commands}  ",
        f"HTTP answers: {result.statuses}  ",
        f"Settled in: {_s(result.settle_s)} s",
        "",
        "## Recovery per fault (seconds after the signal)",
        "",
        "Each fault's window lasts until its victim is back and 3 probes in a row were seen"
        " in account_view within 1 s, or at most the profile's window; `never` is never"
        " within that window. *read lag < 1 s*: from the signal until every probe deposit"
        " the bank accepted was in account_view within 1 s; 0.0 = no accepted write was"
        " ever 1 s behind (while writes are refused nothing can lag: that outage is"
        " *writes back*).",
        "",
        "| fault | process back | writes back | read lag < 1 s | max read lag "
        "| answers in the window | supervisor |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in result.recoveries:
        lines.append(
            f"| {r.fault} | {_s(r.process_back_s)} | {_s(r.writes_back_s)} | "
            f"{_s(r.read_back_s)} | {_s(r.max_read_lag_s)} | "
            + ", ".join(f"{k}: {v}" for k, v in sorted(r.answers.items()))
            + f" | {'; '.join(r.supervisor) or '-'} |"
        )
    lines += ["", "## Checks", "", "| check | where | verdict | detail |", "|---|---|---|---|"]
    for c in result.checks:
        lines.append(f"| {c.name} | {c.area} | {'ok' if c.ok else 'FAIL'} | {c.detail} |")
    failed = [c for c in result.checks if not c.ok and c.examples]
    if failed:
        lines += ["", "## Examples of what failed", ""]
        for c in failed:
            lines.append(f"- **{c.name}** ({c.area}):")
            lines += [f"  - `{e}`" for e in c.examples]
    return "\n".join(lines) + "\n"


def write(result: ChaosResult, out_dir: Path, stem: str, commit: str = "") -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = result.as_dict()
    doc["commit"] = commit
    doc["load_average_at_end"] = os.getloadavg()
    paths = {"json": out_dir / f"{stem}.json", "md": out_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(doc, indent=2, default=str) + "\n")
    paths["md"].write_text(markdown(result, commit))
    return paths
