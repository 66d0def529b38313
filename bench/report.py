"""bench/results/latest.{json,md,png}: every summary, ratios to ours, peak RSS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import targets
from bench.cpu import MEASURED_PROCESSES
from bench.stats import ratios

RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.1f}" if x >= 100 else f"{x:.2f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"# Benchmark run {doc['started_at']}",
        "",
        f"Command: `{doc['command']}`  ",
        f"Machine: {doc['machine']}  ",
        f"Load note: {doc['load_note']}  ",
        f"Commit: {doc['commit']}",
        *targets.markdown(doc["targets"]),
        "",
        "## Every scenario",
        "",
        "| scenario | system | mode | offered/s | ok | failed | throughput/s | p50 ms | "
        "p95 ms | p99 ms | max ms | note |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in doc["results"]:
        lines.append(
            "| "
            + " | ".join(
                _fmt(v)
                for v in (
                    r["scenario"],
                    r["system"],
                    r["mode"],
                    r.get("offered_rate") or r.get("concurrency") and f"c={r['concurrency']}",
                    r["ok"],
                    r.get("failed", 0),
                    r["throughput"],
                    r.get("p50_ms"),
                    r.get("p95_ms"),
                    r.get("p99_ms"),
                    r.get("max_ms"),
                    (
                        r.get("note", "")
                        + (f" errors {r['errors']}" if r.get("errors") else "")
                        + (
                            f"; the first: {r['first_error'][:160].replace('|', '/')}"
                            if r.get("first_error")
                            else ""
                        )
                    ),
                )
            )
            + " |"
        )
    lines += cpu_table(doc["results"])
    if doc["skipped"]:
        lines += ["", "## Skipped", ""]
        lines += [f"- {s['step']}: {s['reason']}" for s in doc["skipped"]]
    lines += [
        "",
        "## Ours ÷ baseline (saturation throughput; > 1 means ours is ahead)",
        "",
        "| scenario | ours | baseline | ours/s | baseline/s | ratio |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in doc["ratios"]:
        lines.append(
            f"| {r['scenario']} | {r['ours']} | {r['baseline']} | {_fmt(r['ours_per_s'])} "
            f"| {_fmt(r['baseline_per_s'])} | {r['ours_over_baseline']:.3f} |"
        )
    lines += [
        "",
        "## Peak RSS per process (MB)",
        "",
        "| process | peak RSS (largest process) | peak sum over its processes | processes |",
        "|---|---:|---:|---:|",
    ]
    for name, mb in doc["peak_rss_mb"].items():
        lines.append(
            f"| {name} | {mb} | {doc['peak_rss_sum_mb'].get(name, '–')} | "
            f"{doc['process_counts'].get(name, 1)} |"
        )
    lines += _extras(doc)
    cdc = doc.get("cdc")
    if cdc:
        lines += ["", "## CDC (bench.cdc: commit -> Kafka ack, same PostgreSQL)", ""]
        if "skipped" in cdc:
            lines.append(f"Skipped: {cdc['skipped']}")
        else:
            lines.append(f"Command: `{cdc.get('command')}`  ")
            for part in ("throughput", "catch_up", "latency"):
                if part in cdc:
                    lines.append(
                        f"- {part}: " + ", ".join(f"{k} {v}" for k, v in cdc[part].items())
                    )
    return "\n".join(lines) + "\n"


def _extras(doc: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if doc.get("final_rss_mb"):
        lines += [
            "",
            f"## RSS per process at the end ({doc.get('events_in_store')} events in the store)",
            "",
        ]
        if doc.get("rss_fill"):
            lines += [f"The fill: {doc['rss_fill']}.", ""]
        lines += ["| process | RSS MB |", "|---|---:|"]
        lines += [f"| {n} | {mb} |" for n, mb in doc["final_rss_mb"].items()]
    if doc.get("profiles"):
        lines += ["", "## py-spy profiles under the deposit load", ""]
        lines += [f"- {n}: {where}" for n, where in doc["profiles"].items()]
    return lines


CPU_COLUMNS = (*MEASURED_PROCESSES, "load", "total")


def cpu_table(results: list[dict[str, Any]]) -> list[str]:
    """CPU µs per operation of every process, next to throughput and p99."""
    rows = [r for r in results if r.get("cpu_us_per_op")]
    if not rows:
        return []
    lines = [
        "",
        "## CPU per operation (µs of CPU time per completed operation, each process)",
        "",
        "The load generator is `load`: wrk (C) for the single-command scenarios, the Python "
        "load process for the rest (every process's CPU counts the step's own setup since "
        "the previous step, except the push's teller: signing up hashes passwords).",
        "",
        "| scenario | mode | generator | throughput/s | p99 ms | " + " | ".join(CPU_COLUMNS) + " |",
        "|---|---|---|---:|---:|" + "---:|" * len(CPU_COLUMNS),
    ]
    for r in rows:
        cpu = r["cpu_us_per_op"]
        lines.append(
            f"| {r['scenario']} ({r['system']}) | {r['mode']} | {r.get('generator', '')} | "
            f"{_fmt(r['throughput'])} | {_fmt(r.get('p99_ms'))} | "
            + " | ".join(_fmt(cpu.get(c)) for c in CPU_COLUMNS)
            + " |"
        )
    return lines


def chart(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sat = [r for r in doc["results"] if r["mode"] == "saturation"]
    fixed = [r for r in doc["results"] if r["mode"] == "fixed" and r.get("p50_ms") is not None]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 10))
    labels = [f"{r['system']}\n{r['scenario']}" for r in sat]
    colors = ["tab:blue" if r["system"] == "ours" else "tab:gray" for r in sat]
    ax1.bar(range(len(sat)), [r["throughput"] for r in sat], color=colors)
    ax1.set_xticks(range(len(sat)), labels, rotation=60, ha="right", fontsize=7)
    ax1.set_yscale("log")
    ax1.set_ylabel("operations / s (log)")
    ax1.set_title("Throughput at saturation (blue: ours)")
    width = 0.2
    xs = range(len(fixed))
    for k, (key, color) in enumerate(
        (
            ("p50_ms", "tab:green"),
            ("p95_ms", "tab:orange"),
            ("p99_ms", "tab:red"),
            ("max_ms", "tab:purple"),
        )
    ):
        ax2.bar(
            [x + (k - 1.5) * width for x in xs],
            [r.get(key) or 0 for r in fixed],
            width,
            label=key.removesuffix("_ms"),
            color=color,
        )
    ax2.set_xticks(
        list(xs),
        [f"{r['system']}\n{r['scenario']}" for r in fixed],
        rotation=60,
        ha="right",
        fontsize=7,
    )
    ax2.set_yscale("log")
    ax2.set_ylabel("latency ms (log)")
    ax2.set_title(f"Latency at a fixed offered load ({doc['fixed_rate']:.0f}/s)")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(doc: dict[str, Any], out_dir: Path = RESULTS) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    doc["ratios"] = ratios(doc["results"])
    doc["targets"] = targets.judge(doc)
    paths = {
        "json": out_dir / "latest.json",
        "md": out_dir / "latest.md",
        "png": out_dir / "latest.png",
    }
    paths["json"].write_text(json.dumps(doc, indent=2) + "\n")
    paths["md"].write_text(markdown(doc))
    chart(doc, paths["png"])
    return paths
