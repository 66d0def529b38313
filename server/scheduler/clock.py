"""Where the scheduler takes "today" from: the system clock, or (tests, drills) a file
holding an ISO date that someone moves forward."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def today(self) -> date: ...


class SystemClock:
    def today(self) -> date:
        return datetime.now(UTC).date()


class FileClock:
    """Today is the ISO date in ``path`` (read on every tick)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def today(self) -> date:
        return date.fromisoformat(self.path.read_text().strip())
