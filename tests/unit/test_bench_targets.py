"""Issue #12's targets as the bench judges them from one run (bench/targets.py): met,
missed, or not measured, never met by default."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.targets import TARGETS, judge, markdown


def _row(scenario: str, mode: str, throughput: float, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "system": extra.pop("system", "ours"),
        "mode": mode,
        "ok": 1000,
        "throughput": throughput,
        **extra,
    }


def a_run(**changes: Any) -> dict[str, Any]:
    """A run that meets every target by a small margin."""
    doc: dict[str, Any] = {
        "results": [
            _row("deposits", "fixed", 1000.0, offered_rate=1000.0, p99_ms=19.9),
            _row("deposits", "saturation", 2500.0, cpu_us_per_op={"api": 300.0, "total": 600.0}),
            _row("transfers_uniform", "saturation", 2000.0),
            _row("get_balance", "saturation", 6000.0),
            _row("e2e_push", "fixed", 1000.0, offered_rate=1000.0, p99_ms=99.9),
            _row("batch_transfers", "saturation", 25_000.0, caught_up_s=10.0),
            _row("deposits", "saturation", 2500.0, system="crud"),
            _row("transfers_uniform", "saturation", 2000.0, system="crud"),
        ],
        "cdc": {"throughput": {"events_per_s": 30_000}},
        "events_in_store": 1_000_000,
        "peak_rss_mb": {"api": 200.0, "kafka": 499.9},
    }
    doc.update(changes)
    return doc


def verdicts(doc: dict[str, Any]) -> dict[str, bool | None]:
    return {j["target"]: j["met"] for j in judge(doc)}


def test_a_run_at_every_bound_meets_every_target() -> None:
    assert set(verdicts(a_run()).values()) == {True}
    assert len(TARGETS) == 10


def test_each_figure_just_past_its_bound_misses_that_target_alone() -> None:
    def missed(doc: dict[str, Any]) -> list[str]:
        return [name for name, met in verdicts(doc).items() if met is not True]

    run = a_run()
    run["results"][1]["cpu_us_per_op"]["total"] = 600.1
    assert missed(run) == ["CPU per deposit, all processes"]

    run = a_run()
    run["results"][0]["p99_ms"] = 20.0  # strictly below 20 ms
    assert missed(run) == ["p99 at 1,000 deposits/s offered"]

    run = a_run()
    run["results"][3]["throughput"] = 5_999.0
    assert missed(run) == ["GET balance"]

    run = a_run(peak_rss_mb={"api": 200.0, "kafka": 500.0})
    assert missed(run) == ["every process's RSS after 1,000,000 events (the largest, at its peak)"]

    run = a_run()
    run["results"][7]["throughput"] = 2_001.0  # CRUD ahead on transfers only
    assert missed(run) == [
        "single commands vs naive CRUD (same run, the lower of deposits and transfers)"
    ]


def test_a_batch_burst_counts_only_if_the_read_side_caught_up_within_10_s() -> None:
    name = "batch endpoint, CDC and projections caught up within 10 s"
    run = a_run()
    run["results"][5]["caught_up_s"] = 10.1
    (batch,) = [j for j in judge(run) if j["target"] == name]
    assert batch["met"] is False and batch["measured"] == 25_000.0
    assert "10.1 s after the burst" in batch["void"]

    del run["results"][5]["caught_up_s"]  # not seen caught up at all
    assert verdicts(run)[name] is False


def test_what_a_run_did_not_measure_is_not_met() -> None:
    run = a_run(cdc={"skipped": "--no-cdc"}, events_in_store=20_000)
    run["results"] = [r for r in run["results"] if r["scenario"] != "e2e_push"]
    run["results"][0]["offered_rate"] = 500.0  # the p99 target is stated at 1,000/s
    judged = {j["target"]: j for j in judge(run)}
    unmeasured = [name for name, j in judged.items() if j["met"] is None]
    assert unmeasured == [
        "p99 at 1,000 deposits/s offered",
        "deposit → WebSocket push p99 at 1,000/s offered",
        "CDC commit → Kafka ack",
        "every process's RSS after 1,000,000 events (the largest, at its peak)",
    ]
    text = "\n".join(markdown(list(judged.values())))
    assert "6 of 10 met in this run (4 not measured)" in text
    assert text.count("| not measured | – |") == 4


def test_the_report_leads_with_the_targets() -> None:
    doc = a_run(
        started_at="2026-12-04T00:00:00+00:00",
        command="python -m bench",
        machine="2 cores",
        load_note="",
        commit="abc1234",
        skipped=[],
        ratios=[],
        process_counts={},
        peak_rss_sum_mb={},
    )
    doc["targets"] = judge(doc)  # report.write judges once; markdown reads the verdicts
    text = report.markdown(doc)
    assert text.index("## Issue #12's targets: 10 of 10 met") < text.index("## Every scenario")
    assert "| GET balance | ≥ 6,000/s | 6,000/s | yes |" in text
