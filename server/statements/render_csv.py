"""A statement as CSV (RFC 4180, UTF-8, CRLF); pure.

Two tables separated by one empty line, each with its own header row, so a person
can open it in a spreadsheet and a machine can split it on the empty line:

1. the summary: ``field,value,minor_units`` (account, period, opening balance, money
   in, money out, postings, closing balance);
2. the postings in ledger order: booked at (UTC), kind, description, counterparty
   account, amount and running balance, each amount in major units per the
   currency's exponent and in integer minor units (what reconciles exactly).

Text a customer typed (descriptions, names) that a spreadsheet would run as a formula
is prefixed with an apostrophe (OWASP's advice against CSV injection).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from server.statements.builder import Statement, major_units

MEDIA_TYPE = "text/csv"  # Litestar adds "; charset=utf-8" to a text/* type
SUMMARY_HEADER = ("field", "value", "minor_units")
POSTINGS_HEADER = (
    "booked_at",
    "kind",
    "description",
    "counterparty_account",
    "amount",
    "amount_minor",
    "balance",
    "balance_minor",
    "currency",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def utc_text(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(statement: Statement) -> list[tuple[str, str, str]]:
    account, period, cur = statement.account, statement.period, statement.account.currency

    def money(field: str, amount: int) -> tuple[str, str, str]:
        return (field, major_units(amount, cur), str(amount))

    return [
        ("account_name", safe_text(account.name), ""),
        ("account_number", account.account_number, ""),
        ("account_id", str(account.account_id), ""),
        ("holder", safe_text(account.holder), ""),
        ("currency", cur, ""),
        ("month", period.label, ""),
        ("period_start", period.start.date().isoformat(), ""),
        ("period_end", period.last_day.isoformat(), ""),
        ("status", "to_date" if period.to_date else "final", ""),
        ("as_of", utc_text(period.as_of if period.to_date else period.end), ""),
        money("opening_balance", statement.opening_balance),
        money("money_in", statement.money_in),
        money("money_out", statement.money_out),
        ("postings", str(statement.count), ""),
        money("closing_balance", statement.closing_balance),
    ]


def render_csv(statement: Statement) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SUMMARY_HEADER)
    writer.writerows(_summary(statement))
    writer.writerow(())
    writer.writerow(POSTINGS_HEADER)
    cur = statement.account.currency
    for line in statement.lines:
        writer.writerow(
            (
                utc_text(line.booked_at),
                line.kind,
                safe_text(line.description),
                line.counterparty,
                major_units(line.amount, cur),
                line.amount,
                major_units(line.balance, cur),
                line.balance,
                cur,
            )
        )
    return out.getvalue().encode()
