"""A statement as a PDF a customer can print and a machine can read the text of; pure.

The postings table is set in Courier so that its columns line up by padding alone;
amounts are in major units with the currency's exponent and thousands grouped.
"""

from __future__ import annotations

from server.statements.builder import Statement, StatementLine
from server.statements.pdf import TextLine, pdf_document
from shared.money import format_minor, money_text

MEDIA_TYPE = "application/pdf"
BANK_NAME = "Northwind Bank"
KIND_LABELS = {
    "deposit": "Deposit",
    "withdrawal": "Withdrawal",
    "transfer_out": "Transfer out",
    "transfer_in": "Transfer in",
}
# Column widths (characters of Courier 8 pt: 111 fit between the margins of A4).
WHEN, KIND, TEXT, OTHER, AMOUNT = 16, 12, 24, 24, 15


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _row(when: str, kind: str, text: str, other: str, amount: str, balance: str) -> str:
    return " ".join(
        (
            _cell(when, WHEN).ljust(WHEN),
            _cell(kind, KIND).ljust(KIND),
            _cell(text, TEXT).ljust(TEXT),
            _cell(other, OTHER).ljust(OTHER),
            amount.rjust(AMOUNT),
            balance.rjust(AMOUNT),
        )
    )


def _posting(line: StatementLine, currency: str) -> TextLine:
    text = _row(
        line.booked_at.strftime("%Y-%m-%d %H:%M"),
        KIND_LABELS[line.kind],
        " ".join(line.description.split()),  # no line breaks inside a cell
        line.counterparty,
        format_minor(line.amount, currency),
        format_minor(line.balance, currency),
    )
    return TextLine(text, "mono", 8.0)


def _summary_line(label: str, value: str, *, bold: bool = False, space: float = 0.0) -> TextLine:
    return TextLine(f"{label:<18}{value}", "mono-bold" if bold else "mono", 9.0, space)


def render_pdf(statement: Statement) -> bytes:
    account, period, cur = statement.account, statement.period, statement.account.currency

    def money(amount: int) -> str:
        return money_text(amount, cur)

    status = (
        f"to date (as of {period.as_of:%Y-%m-%d %H:%M} UTC; the month is not over)"
        if period.to_date
        else "final"
    )
    lines = [
        TextLine(f"{BANK_NAME} - account statement {period.label}", "bold", 14.0),
        TextLine(f"Account: {account.name}", "regular", 10.0, space_before=8.0),
        TextLine(f"Account number: {account.account_number}", "regular", 10.0),
        TextLine(f"Holder: {account.holder}", "regular", 10.0),
        TextLine(f"Currency: {cur}", "regular", 10.0),
        TextLine(
            f"Period: {period.start:%Y-%m-%d} to {period.last_day:%Y-%m-%d} (UTC), {status}",
            "regular",
            10.0,
        ),
        _summary_line("Opening balance", money(statement.opening_balance), bold=True, space=8.0),
        TextLine(
            _row("Booked (UTC)", "Kind", "Description", "Counterparty", "Amount", "Balance"),
            "mono-bold",
            8.0,
            space_before=6.0,
        ),
    ]
    lines += [_posting(line, cur) for line in statement.lines]
    if not statement.lines:
        lines.append(TextLine("No postings in this period.", "mono", 8.0))
    lines += [
        _summary_line("Money in", money(statement.money_in), space=6.0),
        _summary_line("Money out", money(statement.money_out)),
        _summary_line("Postings", str(statement.count)),
        _summary_line("Closing balance", money(statement.closing_balance), bold=True),
    ]
    return pdf_document(
        lines,
        title=f"{BANK_NAME} statement {period.label} {account.account_number}",
        footer=f"{BANK_NAME} - {account.account_number} - {period.label}",
        created=period.as_of,
    )
