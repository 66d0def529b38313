"""bench.push_latency lists each topic recycle's hold from the connector's log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from bench.push_latency import during, recycle_holds, recycles
from cdc.recycle import RECYCLED_MESSAGE


def test_each_recycle_logged_by_the_connector_gives_its_two_waits(tmp_path: Path) -> None:
    log = tmp_path / "cdc.log"
    lines = [
        {"message": "streaming ['events'] from slot bank_cdc"},
        {"message": RECYCLED_MESSAGE % (["account-events"], 1000, 2.5, 0.31, 0.534, "", "")},
        {"message": RECYCLED_MESSAGE % (["cdc.audit"], 1001, 2.6, 0.3, 0.12, " (late)", "")},
    ]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert recycle_holds(log) == [(0.31, 0.53), (0.3, 0.12)]
    assert recycle_holds(tmp_path / "missing.log") == []


def test_the_recycles_whose_hold_overlaps_a_window_are_found_by_their_log_time(
    tmp_path: Path,
) -> None:
    """A recycle is logged when its hold ends; the hold began its two waits earlier."""
    log = tmp_path / "cdc.log"
    lines = [
        # held 12:00:09.5-12:00:10.0: ends inside the window
        ("2026-12-04T12:00:10.000000Z", 0.2, 0.3),
        # held 12:00:39.9-12:00:40.1: begins inside the window, ends after it
        ("2026-12-04T12:00:40.100000Z", 0.1, 0.1),
        # held 12:00:40.5-12:00:41.0: after the window
        ("2026-12-04T12:00:41.000000Z", 0.25, 0.25),
    ]
    log.write_text(
        "".join(
            json.dumps(
                {"@timestamp": at, "message": RECYCLED_MESSAGE % (["t"], 1, 1.0, a, b, "", "")}
            )
            + "\n"
            for at, a, b in lines
        )
    )
    found = recycles(log)
    assert [(r.at_end, r.on_new) for r in found] == [(0.2, 0.3), (0.1, 0.1), (0.25, 0.25)]
    start = dt.datetime(2026, 12, 4, 12, 0, 9, 800_000, tzinfo=dt.UTC).timestamp()
    end = dt.datetime(2026, 12, 4, 12, 0, 40, tzinfo=dt.UTC).timestamp()
    assert during(found, start, end) == found[:2]
    assert during(found, end + 5, end + 10) == []
