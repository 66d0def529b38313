"""``python -m server.scheduler`` against the test stack on a clock the test moves: a
file holding today's date (or a date-time), read by the scheduler on every tick."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

from infra.local.ports import free_port
from infra.local.stack import REPO_ROOT, EmbeddedStack


class Scheduler:
    def __init__(self, stack: EmbeddedStack, clock: Path) -> None:
        self.stack, self.clock = stack, clock
        self.metrics_port = free_port()  # not the stack's: its own scheduler may run

    def set_today(self, day: date | datetime) -> None:
        self.clock.write_text(day.isoformat())

    def args(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "server.scheduler", "--clock-file", str(self.clock), *extra]

    async def health(self) -> tuple[int, dict[str, Any]]:
        """GET /health of the running scheduler (``start``): status code and document."""
        async with httpx.AsyncClient(timeout=5) as probe:
            r = await probe.get(f"http://127.0.0.1:{self.metrics_port}/health")
        return r.status_code, r.json()

    def once(self) -> None:
        """One round: everything due by the clock's time, then exit."""
        proc = subprocess.run(
            self.args("--once"),
            env=self.stack.process_env(),
            cwd=REPO_ROOT,
            timeout=120,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]

    def once_at(self, now: date | datetime) -> None:
        self.set_today(now)
        self.once()

    def start(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """The scheduler running every 0.2 s until the test stops it."""
        own = {"BANK_SCHEDULER_METRICS_PORT": str(self.metrics_port), **(env or {})}
        return subprocess.Popen(
            self.args("--interval", "0.2"),
            env=self.stack.process_env(own),
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
