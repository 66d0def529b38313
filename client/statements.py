"""Monthly statements (issue #17): which months to offer and what the file is called.

The app fetches a statement's bytes through ``BankApi`` (the bank wants the bearer
token, which a plain link in the browser would not carry) and hands them to Flet's
FilePicker.save_file: a download in the browser, a save dialog on desktop and phones.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

StatementFormat = Literal["csv", "pdf"]
MONTHS_OFFERED = 12
MEDIA_TYPES: dict[StatementFormat, str] = {"csv": "text/csv", "pdf": "application/pdf"}


def month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def months_back(today: date, count: int = MONTHS_OFFERED) -> list[str]:
    """This month and the ``count - 1`` before it, newest first, as YYYY-MM."""
    y, m = today.year, today.month
    out = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out


def month_label(key: str) -> str:
    y, m = (int(p) for p in key.split("-"))
    return date(y, m, 1).strftime("%b %Y")


def file_name(account_number: str | None, month: str, fmt: StatementFormat) -> str:
    who = (account_number or "account").replace(" ", "")
    return f"statement-{who}-{month}.{fmt}"
