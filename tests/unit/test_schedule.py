"""The due-date rules of standing orders (server/domain/schedule.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from server.domain.schedule import (
    InvalidScheduleError,
    Schedule,
    add_months,
    after_refusal,
    new_schedule,
)

TODAY = date(2026, 12, 6)


def dates(s: Schedule, limit: int = 50) -> list[date]:
    out = []
    for n in range(limit):
        d = s.due_date(n)
        if d is None:
            break
        out.append(d)
    return out


def test_the_31st_pays_on_the_last_day_of_shorter_months_and_the_31st_again() -> None:
    s = Schedule("monthly", date(2027, 1, 31), count=4)
    assert dates(s) == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]


def test_the_29th_of_february_in_a_leap_year() -> None:
    s = Schedule("monthly", date(2028, 1, 30), count=2)
    assert dates(s) == [date(2028, 1, 30), date(2028, 2, 29)]
    assert add_months(date(2028, 2, 29), 12) == date(2029, 2, 28)


def test_monthly_crosses_the_year() -> None:
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


def test_weekly_until_an_end_date_inclusive() -> None:
    s = Schedule("weekly", date(2027, 1, 1), end=date(2027, 1, 22))
    assert dates(s) == [date(2027, 1, d) for d in (1, 8, 15, 22)]


def test_count_and_end_date_whichever_comes_first() -> None:
    assert len(dates(Schedule("weekly", date(2027, 1, 1), end=date(2027, 12, 31), count=3))) == 3
    assert len(dates(Schedule("monthly", date(2027, 1, 1), end=date(2027, 2, 1), count=9))) == 2


def test_once_has_one_occurrence() -> None:
    assert dates(Schedule("once", date(2027, 5, 5))) == [date(2027, 5, 5)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frequency": "monthly", "start": date(2027, 1, 1)},  # recurring without an end
        {"frequency": "weekly", "start": date(2027, 1, 2), "end": date(2027, 1, 1)},
        {"frequency": "weekly", "start": date(2027, 1, 1), "count": 0},
        {"frequency": "daily", "start": date(2027, 1, 1), "count": 2},
        {"frequency": "monthly", "start": date(9999, 12, 31), "count": 2},
        {"frequency": "once", "start": date(2026, 12, 5)},  # yesterday: due at once
        {"frequency": "monthly", "start": date(2020, 1, 1), "count": 3},  # three at once
    ],
)
def test_bad_schedules_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidScheduleError):
        new_schedule(**kwargs, today=TODAY)


def test_a_schedule_may_start_today_or_later() -> None:
    assert new_schedule("once", TODAY, today=TODAY).due_date(0) == TODAY
    later = new_schedule("weekly", date(2026, 12, 7), count=2, today=TODAY)
    assert later.due_date(1) == date(2026, 12, 14)
    with pytest.raises(InvalidScheduleError, match="today is 2026-12-06"):
        new_schedule("once", date(2026, 12, 5), today=TODAY)


def test_a_resumed_order_starts_at_its_first_date_from_today_without_the_missed_ones() -> None:
    weekly = Schedule("weekly", date(2027, 3, 1), count=10)  # Mondays 1 Mar .. 3 May
    # Suspended after the third refusal (next index 3, due 22 Mar), resumed on Wed 7 Apr:
    # 22 Mar, 29 Mar and 5 Apr are not paid late; 12 Apr is the seventh of ten.
    assert weekly.next_on_or_after(3, date(2027, 4, 7)) == (6, date(2027, 4, 12))
    # A resume on a due date pays that day's occurrence; one before the next date waits.
    assert weekly.next_on_or_after(3, date(2027, 4, 12)) == (6, date(2027, 4, 12))
    assert weekly.next_on_or_after(3, date(2027, 3, 2)) == (3, date(2027, 3, 22))
    # The count still holds: after the tenth date nothing is left.
    assert weekly.next_on_or_after(3, date(2027, 5, 3)) == (9, date(2027, 5, 3))
    assert weekly.next_on_or_after(3, date(2027, 5, 4)) is None


def test_a_resumed_monthly_order_keeps_its_day_and_its_end_date() -> None:
    monthly = Schedule("monthly", date(2027, 1, 31), end=date(2027, 6, 30))
    assert monthly.next_on_or_after(1, date(2027, 4, 1)) == (3, date(2027, 4, 30))
    assert monthly.next_on_or_after(1, date(2027, 7, 1)) is None
    assert Schedule("once", date(2027, 1, 4)).next_on_or_after(1, date(2027, 1, 1)) is None


def test_the_third_refusal_in_a_row_suspends_and_a_closed_account_cancels_at_once() -> None:
    assert after_refusal("insufficient_funds", 0) is None
    assert after_refusal("insufficient_funds", 1) is None
    assert after_refusal("insufficient_funds", 2) == "suspended"
    assert after_refusal("account_closed", 0) == "cancelled"


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule("weekly", date(2027, 3, 1), count=10),
        Schedule("weekly", date(2027, 3, 1), end=date(2027, 5, 2)),  # a Sunday: 9 Mondays
        Schedule("weekly", date(2027, 3, 1), end=date(2027, 5, 3), count=20),
        Schedule("monthly", date(2027, 1, 31), end=date(2027, 6, 29)),  # 30 Jun is after it
        Schedule("monthly", date(2027, 1, 31), end=date(2027, 6, 30)),
        Schedule("monthly", date(2027, 1, 31), end=date(2029, 2, 28), count=12),
        Schedule("monthly", date(2028, 2, 29), end=date(2032, 2, 28)),
        Schedule("once", date(2027, 1, 4)),
    ],
)
def test_the_dates_left_are_counted_as_the_schedule_walks_them(schedule: Schedule) -> None:
    walked = 0
    while schedule.due_date(walked) is not None:
        walked += 1
    assert [schedule.dates_left(n) for n in range(walked + 2)] == [
        walked - n if n < walked else 0 for n in range(walked + 2)
    ]
