"""bench.push_latency lists each topic recycle's hold from the connector's log."""

from __future__ import annotations

import json
from pathlib import Path

from bench.push_latency import recycle_holds
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
