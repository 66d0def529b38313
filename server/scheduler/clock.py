"""Where the scheduler takes the time from: the system clock, or (tests, drills) a file
holding an ISO date or date-time that someone moves forward."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def today(self) -> date: ...

    def now(self) -> datetime: ...


class SystemClock:
    def today(self) -> date:
        return datetime.now(UTC).date()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    """Now is the ISO date-time in ``path`` (a bare date: its midnight, UTC), read on
    every tick; today is its date."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        text = self.path.read_text().strip()
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def today(self) -> date:
        return self.now().date()
