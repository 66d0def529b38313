"""Issue #12's targets, judged from one bench run's own numbers (bench/results/latest.*).

Each target reads one figure of the run and compares it with its bound. A figure the
run did not measure (a step skipped, a fixed rate other than 1,000/s, a fill short of
a million events) is "not measured", never "met". The figures are the ones
docs/capacity.md has judged by hand since the first runs:

- CPU per deposit: the deposits' saturation row, every process together, wrk included;
- deposits, transfers (``transfers_uniform``) and GET balance: saturation throughput;
- the two p99s: the fixed-rate rows of ``deposits`` and ``e2e_push`` at 1,000/s;
- the batch endpoint: its saturation burst, which counts only if CDC and the
  projections had caught up within 10 s of it;
- CDC: ``bench.cdc``'s commit -> Kafka ack while appending (``throughput``);
- single commands against naive CRUD: the smaller of the deposits' and the transfers'
  saturation ratios of the same run;
- memory: the largest single process of each component at its peak, once the store
  held a million events.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.stats import COMPARED, SINGLE_COMMANDS, find_result, ratios

Doc = dict[str, Any]

FIXED_RATE = 1_000.0  # the latency targets are stated at this offered rate
BATCH_CAUGHT_UP_SECONDS = 10.0
MEMORY_AFTER_EVENTS = 1_000_000


@dataclass(frozen=True)
class Target:
    name: str  # as issue #12 words it
    unit: str
    sign: str  # how the figure must compare with the bound: one of COMPARISONS
    bound: float
    figure: Callable[[Doc], float | None]
    # Why the figure does not count although measured (None: it counts).
    void: Callable[[Doc], str | None] = lambda doc: None

    @property
    def wanted(self) -> str:
        return f"{self.sign} {_with_unit(self.bound, self.unit)}"

    def judge(self, doc: Doc) -> dict[str, Any]:
        value = self.figure(doc)
        void = None if value is None else self.void(doc)
        met = None if value is None else not void and COMPARISONS[self.sign](value, self.bound)
        return {
            "target": self.name,
            "wanted": self.wanted,
            "measured": value,
            "unit": self.unit,
            "met": met,
            "void": void,
        }


COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "≥": operator.ge,
    "≤": operator.le,
    "<": operator.lt,
}


def _with_unit(x: float, unit: str) -> str:
    number = f"{x:,.0f}" if x >= 100 or x == int(x) else f"{x:.2f}" if x >= 10 else f"{x:.3f}"
    return f"{number}{unit}" if unit[:1] in ("/", "×") else f"{number} {unit}"


def _ours(doc: Doc, scenario: str, mode: str) -> dict[str, Any] | None:
    return find_result(doc.get("results", []), "ours", scenario, mode)


def saturation(scenario: str) -> Callable[[Doc], float | None]:
    def figure(doc: Doc) -> float | None:
        r = _ours(doc, scenario, "saturation")
        return None if r is None else r["throughput"]

    return figure


def p99_at_fixed_rate(scenario: str) -> Callable[[Doc], float | None]:
    def figure(doc: Doc) -> float | None:
        r = _ours(doc, scenario, "fixed")
        if r is None or r.get("offered_rate") != FIXED_RATE or r.get("failed"):
            return None
        return r.get("p99_ms")

    return figure


def cpu_per_deposit(doc: Doc) -> float | None:
    r = _ours(doc, "deposits", "saturation")
    cpu = (r or {}).get("cpu_us_per_op") or {}
    return cpu.get("total")


def read_side_late(doc: Doc) -> str | None:
    """The batch burst's rate counts only if CDC and the projections had it all soon."""
    caught_up = (_ours(doc, "batch_transfers", "saturation") or {}).get("caught_up_s")
    if caught_up is None:
        return "the read side was not seen caught up after the burst"
    if caught_up > BATCH_CAUGHT_UP_SECONDS:
        return f"the read side caught up {caught_up:.1f} s after the burst"
    return None


def cdc_commit_to_ack(doc: Doc) -> float | None:
    throughput = (doc.get("cdc") or {}).get("throughput") or {}
    return throughput.get("events_per_s")


def single_commands_over_crud(doc: Doc) -> float | None:
    crud = [
        r["ours_over_baseline"]
        for r in ratios(doc.get("results", []))
        if r["ours"] == SINGLE_COMMANDS and r["baseline"] == "crud"
    ]
    return min(crud) if len(crud) == len(COMPARED) else None


def largest_process_mb(doc: Doc) -> float | None:
    if (doc.get("events_in_store") or 0) < MEMORY_AFTER_EVENTS or not doc.get("peak_rss_mb"):
        return None
    return max(doc["peak_rss_mb"].values())


TARGETS: tuple[Target, ...] = (
    Target("CPU per deposit, all processes", "µs", "≤", 600, cpu_per_deposit),
    Target("deposits over HTTP, saturation", "/s", "≥", 2_500, saturation("deposits")),
    Target("transfers over HTTP, saturation", "/s", "≥", 2_000, saturation("transfers_uniform")),
    Target("GET balance", "/s", "≥", 6_000, saturation("get_balance")),
    Target("p99 at 1,000 deposits/s offered", "ms", "<", 20, p99_at_fixed_rate("deposits")),
    Target(
        "deposit → WebSocket push p99 at 1,000/s offered",
        "ms",
        "<",
        100,
        p99_at_fixed_rate("e2e_push"),
    ),
    Target(
        "batch endpoint, CDC and projections caught up within 10 s",
        "transfers/s",
        "≥",
        25_000,
        saturation("batch_transfers"),
        read_side_late,
    ),
    Target("CDC commit → Kafka ack", "events/s", "≥", 30_000, cdc_commit_to_ack),
    Target(
        "single commands vs naive CRUD (same run, the lower of deposits and transfers)",
        "×",
        "≥",
        1.0,
        single_commands_over_crud,
    ),
    Target(
        "every process's RSS after 1,000,000 events (the largest, at its peak)",
        "MB",
        "<",
        500,
        largest_process_mb,
    ),
)


def judge(doc: Doc) -> list[dict[str, Any]]:
    return [t.judge(doc) for t in TARGETS]


def markdown(judged: list[dict[str, Any]]) -> list[str]:
    met = sum(1 for j in judged if j["met"])
    measured = sum(1 for j in judged if j["met"] is not None)
    lines = [
        "",
        f"## Issue #12's targets: {met} of {len(judged)} met in this run "
        f"({len(judged) - measured} not measured)",
        "",
        "| target | wanted | this run | met |",
        "|---|---|---:|---|",
    ]
    for j in judged:
        value = j["measured"]
        shown = "not measured" if value is None else _with_unit(value, j["unit"])
        if j["void"]:
            shown += f" ({j['void']})"
        verdict = {True: "yes", False: "no", None: "–"}[j["met"]]
        lines.append(f"| {j['target']} | {j['wanted']} | {shown} | {verdict} |")
    return lines
