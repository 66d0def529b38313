"""The capacity plan's arithmetic (bench/capacity.py) on a bench record made by hand: which
run it reads, what it leaves out, and the cores and ceilings it derives (no servers)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench.capacity import (
    ceiling,
    cores_needed,
    machine_cores,
    main,
    markdown,
    measured_workloads,
)
from bench.cpu import MEASURED_PROCESSES


def _run(scenario: str, mode: str, throughput: float, **cpu: float) -> dict[str, Any]:
    per_op = {p: 0.0 for p in MEASURED_PROCESSES} | cpu
    per_op["load"] = 999.0  # the load generator: never part of the platform's cost
    per_op["total"] = sum(per_op.values())
    return {
        "scenario": scenario,
        "system": "ours",
        "mode": mode,
        "throughput": throughput,
        "cpu_us_per_op": per_op,
    }


def _doc(*results: dict[str, Any]) -> dict[str, Any]:
    return {
        "started_at": "2026-12-03T07:00:00+00:00",
        "commit": "abc1234",
        "machine": "2 cores, load average 0.1/0.2/0.3 at start",
        "results": list(results),
    }


DEPOSITS_SATURATION = _run(
    "deposits", "saturation", 1_500.0, api=300.0, postgres=200.0, kafka=100.0
)


def test_unit_costs_come_from_the_saturation_run_without_the_load_generator() -> None:
    doc = _doc(
        _run("deposits", "fixed", 1_000.0, api=900.0),  # a paced run: not the unit cost
        DEPOSITS_SATURATION,
    )
    workloads = measured_workloads(doc)
    # no transfer run: no transfer row
    assert [w.name for w in workloads] == ["single deposits over HTTP"]
    deposit = workloads[0]
    assert deposit.throughput == 1_500.0
    assert set(deposit.us) == set(MEASURED_PROCESSES)
    assert (deposit.us["api"], deposit.us["postgres"], deposit.us["kafka"]) == (300.0, 200.0, 100.0)
    assert deposit.total_us == 600.0


def test_cores_leave_the_headroom_and_the_ceiling_fills_every_core() -> None:
    # 600 µs a command at 10,000/s is 6 cores busy, 10 at 60 % utilisation.
    assert math.isclose(cores_needed(600.0, 10_000), 10.0)
    assert math.isclose(cores_needed(600.0, 10_000, utilisation=1.0), 6.0)
    # Two cores at 600 µs a command: 3,333 commands a second.
    assert math.isclose(ceiling(600.0, 2), 2e6 / 600)
    assert ceiling(0.0, 2) == math.inf


def test_the_machine_s_cores_are_read_from_the_bench_record() -> None:
    assert machine_cores(_doc() | {"cores": 16}) == 16  # the field wins over the text
    # records written before the bench stored ``cores``: the start of ``machine``
    assert machine_cores(_doc()) == 2
    assert machine_cores(_doc() | {"machine": "16 cores, load average 1.0"}) == 16


def test_the_report_shows_the_costs_the_ceiling_and_the_cores_per_process() -> None:
    doc = _doc(DEPOSITS_SATURATION)
    text = markdown(doc, measured_workloads(doc))
    row = next(line for line in text.splitlines() if line.startswith("| single deposits"))
    assert "| 1,500 | 300.0 | 200.0 | 100.0 |" in row and row.endswith("| 600.0 |")
    # ceiling: 2 × 10⁶ ÷ 600 = 3,333/s, of which 1,500 measured is 45 %
    assert "| single deposits over HTTP | 3,333 | 1,500 | 45% |" in text
    # at 100,000/s: api 300 µs → 50 cores, the platform 600 µs → 100 cores (60 %)
    at_100k = text.split("### Cores at 100,000")[1]
    assert "| single deposits over HTTP | 50.0 | 33.3 | 16.7 |" in at_100k
    assert at_100k.rstrip().endswith("| 100.0 |")


def test_a_record_without_a_measured_saturation_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(_doc(_run("deposits", "fixed", 1_000.0, api=900.0))))
    assert main(["--results", str(path)]) == 1
    assert "no saturation run" in capsys.readouterr().err
    path.write_text(json.dumps(_doc(DEPOSITS_SATURATION)))
    assert main(["--results", str(path)]) == 0
    assert "3,333" in capsys.readouterr().out
