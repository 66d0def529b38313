"""The month a statement covers: ``YYYY-MM`` in UTC, from the first instant of the
month to the first instant of the next (exclusive). A month still running gives a
statement to date; a month not begun yet, or one that ended before the account was
opened, gives none (docs/adr/1010-statements-from-the-event-store.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from server.statements.errors import StatementBeforeOpeningError, StatementMonthInFutureError

# A year (0001..9999), a dash, a month (01..12): what the API documents and accepts.
MONTH_PATTERN = r"^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


class InvalidMonthError(ValueError):
    """Not a month the API can read (answered 400)."""


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # first instant of the month, UTC, inclusive
    end: datetime  # first instant of the next month, UTC, exclusive
    to_date: bool  # the month is still running: the statement is as of ``as_of``
    as_of: datetime  # when the statement was made

    @property
    def label(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"

    @property
    def last_day(self) -> date:
        """The last day the statement covers: today for a month still running."""
        return self.as_of.date() if self.to_date else date.fromordinal(self.end.toordinal() - 1)


def parse_month(text: str) -> tuple[int, int]:
    """'2026-11' -> (2026, 11)."""
    if not _MONTH.match(text):
        raise InvalidMonthError(f"month must be a year and month like 2026-11, got {text[:20]!r}.")
    return int(text[:4]), int(text[5:])


def _first_instant(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def statement_period(year: int, month: int, *, now: datetime, opened_at: datetime) -> Period:
    """The period of the statement for ``year``-``month``, or the business rule it breaks."""
    now = now.astimezone(UTC)
    if (year, month) > (now.year, now.month):
        raise StatementMonthInFutureError(
            f"{year:04d}-{month:02d} has not begun yet (it is {now:%Y-%m} in UTC);"
            " ask for this month (a statement to date) or an earlier one."
        )
    start = _first_instant(year, month)
    end = _first_instant(year + month // 12, month % 12 + 1)
    opened = opened_at.astimezone(UTC)
    if end <= opened:
        raise StatementBeforeOpeningError(
            f"The account was opened in {opened:%Y-%m}; statements begin with that month."
        )
    return Period(start=start, end=end, to_date=now < end, as_of=now)
