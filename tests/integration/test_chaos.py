"""The chaos suite in its short form (`python -m bench.chaos --short`, < 3 minutes): every
process of an isolated stack is killed in turn under a retrying money load; afterwards
nothing accepted is lost or doubled, nothing refused is applied, replays are identical,
the read models agree with the event store, every notification due is in its customer's
inbox once and pushed, and outages answer 503, never 500.

The full form is `./task chaos` (bench/results/chaos.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local.stack import REPO_ROOT

# Checks that may fail while their fix is under way (issue number and why), printed with
# the table. Empty: every check of the suite must pass.
KNOWN_OPEN: dict[str, str] = {}


def test_every_process_killed_in_turn_loses_and_doubles_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--short", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    table = tmp_path / "chaos-short.md"
    assert table.exists(), f"the suite wrote no result (exit {done.returncode}):\n" + (
        done.stdout[-3000:] + done.stderr[-3000:]
    )
    print(table.read_text())
    result = json.loads((tmp_path / "chaos-short.json").read_text())
    failed = {c["name"]: c for c in result["checks"] if not c["ok"]}
    unexpected = {name: c["detail"] for name, c in failed.items() if name not in KNOWN_OPEN}
    assert not unexpected, f"chaos checks failed: {unexpected}\n\n{table.read_text()}"
    if failed:
        pytest.xfail(
            "known open (issue #11): "
            + "; ".join(f"{name}: {KNOWN_OPEN[name]} [{c['detail']}]" for name, c in failed.items())
        )
