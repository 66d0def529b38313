"""When a standing order pays: its due dates (pure date rules, no I/O).

Occurrence ``n`` (0-based) is computed from the start date, never from the previous
occurrence, so a monthly order started on the 31st pays on the last day of shorter
months (28/29 February, 30 April) and on the 31st again in the months that have one.
An order ends after its end date or after ``count`` occurrences, whichever comes first;
a "once" order has exactly one occurrence.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from server.domain.errors import AccountClosedError, BusinessRuleError

Frequency = Literal["once", "weekly", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = ("once", "weekly", "monthly")
# After this many refusals in a row an order is suspended (not retried forever).
MAX_CONSECUTIVE_REFUSALS = 3
# Refusals that every later occurrence would meet too: the order is cancelled at once.
ENDS_THE_ORDER = frozenset({AccountClosedError.code})
# Due dates are computed up to a century ahead; this keeps them inside datetime.date.
LAST_START_YEAR = 9000


class InvalidScheduleError(BusinessRuleError):
    code = "invalid_schedule"


@dataclass(frozen=True, slots=True)
class Schedule:
    frequency: Frequency
    start: date
    end: date | None = None
    count: int | None = None

    def due_date(self, n: int) -> date | None:
        """The n-th due date (0-based), or None when the schedule has ended before it."""
        if n < 0 or (self.count is not None and n >= self.count):
            return None
        if self.frequency == "once":
            due = self.start if n == 0 else None
        elif self.frequency == "weekly":
            due = self.start + timedelta(weeks=n)
        else:
            due = add_months(self.start, n)
        if due is None or (self.end is not None and due > self.end):
            return None
        return due

    def dates_left(self, n: int) -> int:
        """How many due dates the schedule has from the n-th on (counted, not walked: an
        order may run for a century of weeks)."""
        if self.frequency == "once":
            total = 1
        else:
            by_end = None
            if self.end is not None:
                if self.frequency == "weekly":
                    by_end = (self.end - self.start).days // 7 + 1
                else:
                    months = (self.end.year - self.start.year) * 12
                    months += self.end.month - self.start.month
                    if add_months(self.start, months) > self.end:
                        months -= 1
                    by_end = months + 1
            total = min(t for t in (by_end, self.count) if t is not None)
        return max(0, total - max(n, 0))

    def next_on_or_after(self, n: int, day: date) -> tuple[int, date] | None:
        """The first occurrence from the n-th on that falls on ``day`` or later, with its
        index; None when the schedule ends before one does. A resumed order starts there:
        the occurrences due while it was suspended are not paid late, and they still count
        towards ``count`` (the order ends when it would have)."""
        while (due := self.due_date(n)) is not None:
            if due >= day:
                return n, due
            n += 1
        return None


def after_refusal(code: str, refused_before: int) -> Literal["suspended", "cancelled"] | None:
    """What a refused occurrence does to its order, given the refusals in a row before
    it: cancels it (no later one could be paid), suspends it (the third in a row), or
    nothing (the next date is tried)."""
    if code in ENDS_THE_ORDER:
        return "cancelled"
    if refused_before + 1 >= MAX_CONSECUTIVE_REFUSALS:
        return "suspended"
    return None


def add_months(start: date, months: int) -> date:
    """``start`` moved by ``months`` months, the day clamped to the month's last day."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


def new_schedule(
    frequency: Frequency,
    start: date,
    end: date | None = None,
    count: int | None = None,
    *,
    today: date,
) -> Schedule:
    """A schedule a customer asks for today (UTC), checked (InvalidScheduleError
    otherwise). It starts today or later: a start in the past would pay every occurrence
    already due at once, on the scheduler's next round."""
    schedule = Schedule(frequency, start, end, count)
    check_schedule(schedule)
    if start < today:
        raise InvalidScheduleError(
            f"start_date must be today or later; today is {today.isoformat()} (UTC)."
        )
    return schedule


def check_schedule(s: Schedule) -> None:
    if s.frequency not in FREQUENCIES:
        raise InvalidScheduleError(f"frequency must be one of {', '.join(FREQUENCIES)}.")
    if s.start.year >= LAST_START_YEAR:
        raise InvalidScheduleError(f"start_date must be before the year {LAST_START_YEAR}.")
    if s.count is not None and s.count < 1:
        raise InvalidScheduleError("count must be at least 1.")
    if s.end is not None and s.end < s.start:
        raise InvalidScheduleError("end_date must not be before start_date.")
    if s.frequency != "once" and s.end is None and s.count is None:
        raise InvalidScheduleError("A recurring order needs an end_date or a count.")
