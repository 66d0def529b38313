"""The 30-day chart starts where the account has money or activity."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import msgspec

from client.views.account import chart_days, chart_summary
from shared.api import AnalyticsDay, AnalyticsResponse


def analytics(balances: list[tuple[int, int]]) -> AnalyticsResponse:
    start = date(2026, 11, 1)
    days = [
        AnalyticsDay(
            day=start + timedelta(days=i), money_in=0, money_out=0, count=n, closing_balance=b
        )
        for i, (n, b) in enumerate(balances)
    ]
    return AnalyticsResponse(
        account_id=uuid.uuid4(),
        currency="EUR",
        days=days,
        total_in=0,
        total_out=0,
        count=sum(n for n, _ in balances),
    )


def test_days_before_any_money_are_not_drawn_as_a_flat_line() -> None:
    data = analytics([(0, 0)] * 27 + [(1, 100_00), (0, 100_00), (2, 40_00)])
    assert [d.closing_balance for d in chart_days(data)] == [100_00, 100_00, 40_00]


def test_an_account_with_older_money_keeps_its_whole_month() -> None:
    data = analytics([(0, 50_00)] * 29 + [(1, 70_00)])
    assert len(chart_days(data)) == 30


def test_no_activity_no_chart() -> None:
    assert chart_days(analytics([(0, 0)] * 30)) == []


def test_the_summary_counts_in_words_and_names_the_currency_of_both_sums() -> None:
    one = msgspec.structs.replace(analytics([(1, 12_000)]), total_in=12_000)
    assert chart_summary(one) == "In 120.00 EUR · Out 0.00 EUR · 1 transaction"
    two = msgspec.structs.replace(analytics([(1, 500), (1, 250)]), total_in=500, total_out=250)
    assert chart_summary(two) == "In 5.00 EUR · Out 2.50 EUR · 2 transactions"
    assert chart_summary(analytics([(0, 0)])).endswith("· 0 transactions")
