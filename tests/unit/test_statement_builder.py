"""Monthly statements, pure parts (issue #17 item 7): the month asked for, postings in
and lines and totals out, the amounts in major and minor units, the CSV and the PDF."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pypdf
import pytest

from server.statements.builder import (
    AccountHeader,
    Statement,
    build_statement,
    counterparties,
    major_units,
)
from server.statements.errors import (
    StatementBeforeOpeningError,
    StatementDoesNotReconcileError,
    StatementMonthInFutureError,
)
from server.statements.period import InvalidMonthError, Period, parse_month, statement_period
from server.statements.render_csv import render_csv
from server.statements.render_pdf import render_pdf
from shared.events import (
    AccountFrozen,
    AccountLimitsChanged,
    AnyEvent,
    Event,
    MoneyDeposited,
    MoneyTransferredIn,
    MoneyTransferredOut,
    MoneyWithdrawn,
)

ACCOUNT = uuid.uuid4()
OTHER = uuid.uuid4()
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)


class HoldPlaced(Event, frozen=True):
    """An account-stream event the statement builder has never heard of."""

    account_id: uuid.UUID
    amount: int


def header(currency: str = "EUR", name: str = "Everyday") -> AccountHeader:
    return AccountHeader(
        account_id=ACCOUNT,
        name=name,
        account_number="NW12 3456 7890 1234 5678",
        currency=currency,
        holder="Ada Lovelace",
    )


def october(*, to_date: bool = False) -> Period:
    as_of = datetime(2026, 10, 20, 9, 30, tzinfo=UTC) if to_date else NOVEMBER
    return Period(start=OCTOBER, end=NOVEMBER, to_date=to_date, as_of=as_of)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=UTC)


def deposit(amount: int, after: int, description: str = "") -> MoneyDeposited:
    return MoneyDeposited(
        account_id=ACCOUNT,
        transaction_id=uuid.uuid4(),
        amount=amount,
        currency="EUR",
        balance_after=after,
        description=description,
    )


def withdrawal(amount: int, after: int) -> MoneyWithdrawn:
    return MoneyWithdrawn(
        account_id=ACCOUNT,
        transaction_id=uuid.uuid4(),
        amount=amount,
        currency="EUR",
        balance_after=after,
    )


def month_of_postings() -> list[tuple[datetime, AnyEvent]]:
    """Opening 100.00; +50.00, -20.00, out 30.00, a freeze, in 5.55, a limit change."""
    events: list[tuple[datetime, AnyEvent]] = [
        (at(2), deposit(50_00, 150_00, "salary")),
        (at(3), withdrawal(20_00, 130_00)),
        (
            at(4),
            MoneyTransferredOut(
                account_id=ACCOUNT,
                transfer_id=uuid.uuid4(),
                to_account_id=OTHER,
                amount=30_00,
                currency="EUR",
                balance_after=100_00,
                description="rent",
            ),
        ),
        (at(5), AccountFrozen(account_id=ACCOUNT, reason="check")),
        (
            at(6),
            MoneyTransferredIn(
                account_id=ACCOUNT,
                transfer_id=uuid.uuid4(),
                from_account_id=OTHER,
                amount=5_55,
                currency="EUR",
                balance_after=105_55,
            ),
        ),
        (
            at(7),
            AccountLimitsChanged(
                account_id=ACCOUNT, per_transaction_limit=1, daily_outgoing_limit=2
            ),
        ),
    ]
    return events


def octobers_statement() -> Statement:
    return build_statement(
        header(), october(), 100_00, month_of_postings(), {OTHER: "NW98 7654 3210 9876 5432"}
    )


# --- the month --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "parsed"), [("2026-11", (2026, 11)), ("0001-01", (1, 1))])
def test_a_month_is_a_year_and_a_month(text: str, parsed: tuple[int, int]) -> None:
    assert parse_month(text) == parsed


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "0000-05", "2026-1", "2026-11-01", "11-2026", "", "nov"]
)
def test_anything_else_is_not_a_month(text: str) -> None:
    with pytest.raises(InvalidMonthError, match="like 2026-11"):
        parse_month(text)


def test_a_past_month_runs_from_its_first_instant_to_the_next_months() -> None:
    now = datetime(2027, 2, 3, tzinfo=UTC)
    p = statement_period(2026, 12, now=now, opened_at=datetime(2026, 12, 31, 23, tzinfo=UTC))
    assert (p.start, p.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert not p.to_date and p.label == "2026-12" and p.last_day.isoformat() == "2026-12-31"


def test_the_current_month_gives_a_statement_to_date() -> None:
    now = datetime(2026, 11, 30, 22, 5, tzinfo=UTC)
    p = statement_period(2026, 11, now=now, opened_at=now - timedelta(days=400))
    assert p.to_date and p.as_of == now and p.last_day.isoformat() == "2026-11-30"


def test_a_month_not_begun_has_no_statement() -> None:
    now = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    with pytest.raises(StatementMonthInFutureError, match="2026-12 has not begun"):
        statement_period(2026, 12, now=now, opened_at=now)
    with pytest.raises(StatementMonthInFutureError):
        statement_period(9999, 12, now=now, opened_at=now)  # no overflow computing its end


def test_a_month_over_before_the_account_was_opened_has_no_statement() -> None:
    opened = datetime(2026, 10, 1, 0, 0, 1, tzinfo=UTC)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    with pytest.raises(StatementBeforeOpeningError, match="opened in 2026-10"):
        statement_period(2026, 9, now=now, opened_at=opened)
    assert statement_period(2026, 10, now=now, opened_at=opened).start == OCTOBER


# --- the builder --------------------------------------------------------------------


def test_every_posting_is_a_line_with_its_running_balance() -> None:
    s = octobers_statement()
    assert [(line.kind, line.amount, line.balance) for line in s.lines] == [
        ("deposit", 50_00, 150_00),
        ("withdrawal", -20_00, 130_00),
        ("transfer_out", -30_00, 100_00),
        ("transfer_in", 5_55, 105_55),
    ]
    other = "NW98 7654 3210 9876 5432"
    assert [line.counterparty for line in s.lines] == ["", "", other, other]
    assert s.lines[0].description == "salary" and s.lines[0].booked_at == at(2)


def test_the_totals_reconcile_opening_plus_in_minus_out_is_closing() -> None:
    s = octobers_statement()
    assert (s.opening_balance, s.money_in, s.money_out, s.count) == (100_00, 55_55, 50_00, 4)
    assert s.closing_balance == 105_55 == s.opening_balance + s.money_in - s.money_out


def test_events_that_are_not_postings_are_passed_over_even_unknown_ones() -> None:
    events: list[tuple[datetime, AnyEvent]] = [
        (at(1), HoldPlaced(account_id=ACCOUNT, amount=10_00)),  # type: ignore[list-item]  # an event type the union does not know yet
        (at(2), deposit(1_00, 11_00)),
    ]
    s = build_statement(header(), october(), 10_00, events, {})
    assert [line.kind for line in s.lines] == ["deposit"] and s.closing_balance == 11_00


def test_a_month_without_postings_closes_at_its_opening_balance() -> None:
    s = build_statement(header(), october(), 42_00, [], {})
    assert (s.count, s.money_in, s.money_out, s.closing_balance) == (0, 0, 0, 42_00)


def test_a_posting_whose_balance_disagrees_with_the_ledger_is_refused() -> None:
    gap = [(at(2), deposit(50_00, 150_00)), (at(3), deposit(1_00, 200_00))]  # a posting missing
    with pytest.raises(StatementDoesNotReconcileError, match="says 20000"):
        build_statement(header(), october(), 100_00, gap, {})


def test_a_transfer_counterparty_without_a_number_is_named_by_its_id() -> None:
    assert counterparties(e for _, e in month_of_postings()) == {OTHER}
    s = build_statement(header(), october(), 100_00, month_of_postings(), {})
    assert s.lines[2].counterparty == str(OTHER)


# --- amounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1_234_567, "EUR", "12345.67"),  # exponent 2, never grouped (CSV)
        (-5, "EUR", "-0.05"),
        (0, "EUR", "0.00"),
        (1_200_000, "JPY", "1200000"),  # exponent 0
        (-7, "JPY", "-7"),
        (1_005, "KWD", "1.005"),  # exponent 3
        (-5, "KWD", "-0.005"),
        (2**63 - 1, "EUR", "92233720368547758.07"),
    ],
)
def test_minor_units_are_shown_per_the_currency_exponent(
    amount: int, currency: str, text: str
) -> None:
    assert major_units(amount, currency) == text


# --- CSV ----------------------------------------------------------------------------


def _tables(data: bytes) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    text = data.decode()
    assert "\r\n\r\n" in text  # the two tables are split by one empty line
    summary, postings = text.split("\r\n\r\n")
    rows = list(csv.reader(io.StringIO(summary)))
    assert rows[0] == ["field", "value", "minor_units"]
    return {r[0]: r[1:] for r in rows[1:]}, list(csv.DictReader(io.StringIO(postings)))


def test_the_csv_carries_the_account_the_period_and_the_totals() -> None:
    summary, postings = _tables(render_csv(octobers_statement()))
    assert summary["account_name"] == ["Everyday", ""]
    assert summary["account_number"] == ["NW12 3456 7890 1234 5678", ""]
    assert summary["holder"][0] == "Ada Lovelace" and summary["currency"][0] == "EUR"
    assert (summary["period_start"][0], summary["period_end"][0]) == ("2026-10-01", "2026-10-31")
    assert summary["status"][0] == "final" and summary["as_of"][0] == "2026-11-01T00:00:00Z"
    assert summary["opening_balance"] == ["100.00", "10000"]
    assert summary["money_in"] == ["55.55", "5555"]
    assert summary["money_out"] == ["50.00", "5000"]
    assert summary["postings"][0] == "4"
    assert summary["closing_balance"] == ["105.55", "10555"]
    assert len(postings) == 4


def test_the_csv_postings_reconcile_in_minor_units() -> None:
    summary, postings = _tables(render_csv(octobers_statement()))
    balance = int(summary["opening_balance"][1])
    for row in postings:
        balance += int(row["amount_minor"])
        assert int(row["balance_minor"]) == balance
        assert row["currency"] == "EUR"
    assert balance == int(summary["closing_balance"][1])
    out = postings[2]
    assert out["kind"] == "transfer_out" and out["amount"] == "-30.00"
    assert out["counterparty_account"] == "NW98 7654 3210 9876 5432"
    assert postings[0]["booked_at"] == "2026-10-02T12:00:00Z"


def test_the_csv_of_a_month_to_date_says_so() -> None:
    s = build_statement(header(), october(to_date=True), 0, [], {})
    summary, postings = _tables(render_csv(s))
    assert summary["status"][0] == "to_date" and summary["as_of"][0] == "2026-10-20T09:30:00Z"
    assert summary["period_end"][0] == "2026-10-20" and postings == []


def test_text_a_spreadsheet_would_run_as_a_formula_is_defused() -> None:
    events: list[tuple[datetime, AnyEvent]] = [(at(2), deposit(1, 1, '=HYPERLINK("x")'))]
    s = build_statement(header(name="+cmd"), october(), 0, events, {})
    summary, postings = _tables(render_csv(s))
    assert summary["account_name"][0] == "'+cmd"
    assert postings[0]["description"] == '\'=HYPERLINK("x")'


@pytest.mark.parametrize(("currency", "closing"), [("JPY", "10555"), ("KWD", "10.555")])
def test_the_csv_uses_the_accounts_exponent(currency: str, closing: str) -> None:
    s = build_statement(header(currency), october(), 10_555, [], {})
    summary, _ = _tables(render_csv(s))
    assert summary["closing_balance"] == [closing, "10555"]


# --- PDF ----------------------------------------------------------------------------


def _pdf_text(data: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_is_a_valid_document_whose_text_carries_the_statement() -> None:
    data = render_pdf(octobers_statement())
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    reader, text = _pdf_text(data)
    assert len(reader.pages) == 1
    assert "account statement 2026-10" in text and "Ada Lovelace" in text
    assert "NW12 3456 7890 1234 5678" in text
    assert "Opening balance" in text and "100.00 EUR" in text
    assert "Closing balance   105.55 EUR" in text
    assert "Transfer out" in text and "-30.00" in text and "salary" in text
    assert reader.metadata is not None and "2026-10" in str(reader.metadata.title)


def test_a_long_pdf_runs_onto_numbered_pages_and_survives_any_text() -> None:
    events: list[tuple[datetime, AnyEvent]] = [
        (at(1 + i // 10), deposit(1_000_00, (i + 1) * 1_000_00, "café (tea) \\ 日本 ok"))
        for i in range(200)
    ]
    s = build_statement(header(), october(), 0, events, {})
    reader, text = _pdf_text(render_pdf(s))
    assert len(reader.pages) >= 3
    assert f"page {len(reader.pages)} of {len(reader.pages)}" in text
    assert "café (tea) \\ ?? ok" in text  # outside WinAnsi: '?'
    assert "Closing balance   200,000.00 EUR" in text


def test_the_pdf_of_a_month_to_date_says_so() -> None:
    s = build_statement(header("JPY"), october(to_date=True), 1_200, [], {})
    _, text = _pdf_text(render_pdf(s))
    assert "to date (as of 2026-10-20 09:30 UTC" in text
    assert "No postings in this period." in text and "1,200 JPY" in text
