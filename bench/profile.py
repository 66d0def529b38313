"""A py-spy profile of a process under load, summed per function (self and inclusive
share of the samples), kept as a short Markdown summary in bench/results/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path, rate: int = 100) -> subprocess.Popen[bytes] | None:
    """Begin recording (native frames off, idle threads off); None without py-spy."""
    exe = py_spy()
    if exe is None:
        return None
    argv = [exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", str(rate)]
    argv += ["-f", "speedscope", "-o", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarize(speedscope: Path, top: int = 25) -> dict[str, Any]:
    """Per function: the share of samples where it is on the stack (inclusive) and where
    it is the leaf (self), over every thread."""
    doc = json.loads(speedscope.read_text())
    frames = doc["shared"]["frames"]
    names = [f"{f['name']} ({_short(f.get('file', ''))}:{f.get('line', '?')})" for f in frames]
    inclusive: Counter[int] = Counter()
    own: Counter[int] = Counter()
    total = 0.0
    samples = 0
    for prof in doc["profiles"]:
        for stack, weight in zip(prof["samples"], prof["weights"], strict=True):
            total += weight  # seconds of samples (py-spy: one sample = 1 / rate s)
            samples += 1
            if not stack:
                continue
            own[stack[-1]] += weight
            for f in set(stack):
                inclusive[f] += weight
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}

    def pct(c: Counter[int]) -> list[tuple[str, float]]:
        return [(names[i], round(100 * w / total, 1)) for i, w in c.most_common(top)]

    return {"samples": samples, "self": pct(own), "inclusive": pct(inclusive)}


REPO = str(Path(__file__).resolve().parents[1]) + "/"


def _short(path: str) -> str:
    """site-packages/x/y.py -> x/y.py; the stdlib -> asyncio/runners.py; ours -> repo path."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if path.startswith(REPO):
        return path[len(REPO) :]
    if "/lib/python3" in path:
        return "/".join(path.split("/")[-2:])
    return path


def markdown(title: str, summary: dict[str, Any], note: str) -> str:
    lines = [f"# py-spy profile: {title}", "", note, "", f"{summary['samples']} samples", ""]
    for kind in ("self", "inclusive"):
        lines += [f"## Top functions by {kind} time", "", "| % | function |", "|---:|---|"]
        lines += [f"| {p} | `{name}` |" for name, p in summary[kind]]
        lines.append("")
    return "\n".join(lines)
