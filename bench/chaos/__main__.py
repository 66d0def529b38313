"""``python -m bench.chaos`` (``./task chaos``): kill every process of an isolated stack
in turn under a retrying money load, then check that nothing was lost, doubled or left
diverged. ``--short``: the CI form (< 3 minutes). Writes bench/results/chaos[-short].{json,md};
exits 1 when a check fails."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench.chaos.faults import FULL_ONLY, SCHEDULE, Fault
from bench.chaos.report import markdown, write
from bench.chaos.run import FULL, SHORT, ChaosRun

REPO = Path(__file__).resolve().parents[2]


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except OSError:
        return ""


def _schedule(labels: list[str] | None, short: bool) -> tuple[Fault, ...]:
    if not labels:
        return SCHEDULE if short else SCHEDULE + FULL_ONLY
    by_label = {f.label.replace(" ", ":"): f for f in SCHEDULE + FULL_ONLY}
    return tuple(by_label[label] for label in labels)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--short", action="store_true", help="the CI form: fewer clients, shorter")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--keep-data", action="store_true", help="keep the stack's data and logs")
    p.add_argument(
        "--faults",
        nargs="+",
        metavar="FAULT",
        choices=[f.label.replace(" ", ":") for f in SCHEDULE + FULL_ONLY],
        help="only these faults, in this order (e.g. SIGKILL:redis SIGKILL:postgres);"
        " the short form runs SIGSTOP:api, SIGSTOP:redis, SIGSTOP:kafka and"
        " SIGSTOP:postgres only when named",
    )
    args = p.parse_args(argv)
    name = "short" if args.short else "full"
    result = ChaosRun(
        SHORT if args.short else FULL,
        name,
        _schedule(args.faults, args.short),
        keep_data=args.keep_data,
    ).run()
    commit = _commit()
    paths = write(result, args.out, "chaos-short" if args.short else "chaos", commit)
    print(markdown(result, commit))
    print("chaos: wrote " + ", ".join(str(p) for p in paths.values()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
