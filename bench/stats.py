"""Latency and throughput summaries shared by every scenario."""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from bench.loadgen import Run


class Summary(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One measured run: what was offered, what completed, and how fast."""

    scenario: str
    system: str  # "ours" or a baseline name
    mode: str  # "fixed" (open loop at offered_rate) or "saturation" (closed loop)
    ok: int
    failed: int = 0
    errors: dict[str, int] = {}
    seconds: float
    throughput: float  # completed operations per second
    unit: str = "ops"  # what one operation is (e.g. "transfers" for the batch endpoint)
    offered_rate: float | None = None
    concurrency: int | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    note: str = ""
    # The batch endpoint's burst: seconds after it until CDC and the projections had
    # everything (None: not within the wait).
    caught_up_s: float | None = None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(
    *,
    scenario: str,
    system: str,
    mode: str,
    latencies: list[float],
    errors: Counter[str],
    seconds: float,
    ops_per_call: int = 1,
    unit: str = "ops",
    offered_rate: float | None = None,
    concurrency: int | None = None,
    note: str = "",
    caught_up_s: float | None = None,
) -> Summary:
    """``latencies`` in seconds, one per successful call; a call may carry several ops."""
    lat = sorted(latencies)
    ms = [x * 1000 for x in lat]
    ok = len(lat) * ops_per_call
    return Summary(
        scenario=scenario,
        system=system,
        mode=mode,
        ok=ok,
        failed=sum(errors.values()),
        errors=dict(errors),
        seconds=round(seconds, 3),
        throughput=round(ok / seconds, 1) if seconds > 0 else 0.0,
        unit=unit,
        offered_rate=offered_rate,
        concurrency=concurrency,
        p50_ms=_r(percentile(ms, 50)),
        p95_ms=_r(percentile(ms, 95)),
        p99_ms=_r(percentile(ms, 99)),
        max_ms=_r(ms[-1] if ms else math.nan),
        mean_ms=_r(sum(ms) / len(ms) if ms else math.nan),
        note=note,
        caught_up_s=caught_up_s,
    )


def summarize_run(run: Run, **fields: Any) -> Summary:
    """``summarize`` of one load generator run: its latencies, errors and time."""
    return summarize(latencies=run.latencies, errors=run.errors, seconds=run.seconds, **fields)


def _r(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 3)


def find_result(
    results: list[dict[str, Any]], system: str, scenario: str, mode: str
) -> dict[str, Any] | None:
    """The summary of one system's scenario in one mode, or None when the run has none."""
    for r in results:
        if r["system"] == system and r["scenario"] == scenario and r["mode"] == mode:
            return r
    return None


COMPARED = ("deposits", "transfers_uniform")
BASELINES = ("raw_copy", "raw_insert", "crud", "eventsourcing")
SINGLE_COMMANDS = "single commands over HTTP"
BATCH_ENDPOINT = "batch endpoint"


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Saturation throughput of ours ÷ each baseline (> 1: ours is ahead), unrounded: a
    ratio just under 1 is not 1."""
    out = []
    for scenario in COMPARED:
        ours = find_result(results, "ours", scenario, "saturation")
        for base in BASELINES:
            other = find_result(results, base, scenario, "saturation")
            if ours and other and other["throughput"]:
                out.append(
                    {
                        "scenario": scenario,
                        "ours": SINGLE_COMMANDS,
                        "baseline": base,
                        "ours_per_s": ours["throughput"],
                        "baseline_per_s": other["throughput"],
                        "ours_over_baseline": ours["throughput"] / other["throughput"],
                    }
                )
    batch = find_result(results, "ours", "batch_transfers", "saturation")
    for base in BASELINES:
        other = find_result(results, base, "transfers_uniform", "saturation")
        if batch and other and other["throughput"]:
            out.append(
                {
                    "scenario": "transfers_uniform",
                    "ours": BATCH_ENDPOINT,
                    "baseline": base,
                    "ours_per_s": batch["throughput"],
                    "baseline_per_s": other["throughput"],
                    "ours_over_baseline": batch["throughput"] / other["throughput"],
                }
            )
    return out
