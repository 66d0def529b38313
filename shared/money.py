"""Money: an integer count of minor units plus an ISO 4217 currency code.

No float ever touches an amount. Conversion to and from the text a person
types ("12.34") is exact, via ``decimal``-free string arithmetic.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

INT64_MAX = 2**63 - 1

# ISO 4217 codes the bank offers, with their minor-unit exponent.
CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "CAD": 2,
    "AUD": 2,
    "JPY": 0,
    "KWD": 3,
}

CURRENCY_PATTERN = r"^[A-Z]{3}$"
CurrencyCode = Annotated[str, msgspec.Meta(pattern=CURRENCY_PATTERN, description="ISO 4217 code")]
MinorUnits = Annotated[int, msgspec.Meta(ge=-INT64_MAX, le=INT64_MAX)]
PositiveMinorUnits = Annotated[
    int, msgspec.Meta(gt=0, le=INT64_MAX, description="amount in minor units (cents), > 0")
]


class Money(msgspec.Struct, frozen=True, kw_only=True):
    amount: MinorUnits
    currency: CurrencyCode


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS.get(currency, 2)


_MAJOR = re.compile(r"^\s*(-)?(\d{1,18})(?:[.,](\d+))?\s*$")


def parse_major(text: str, currency: str) -> int:
    """'12.34' EUR -> 1234. Raises ValueError with a message a person can act on."""
    m = _MAJOR.match(text)
    if not m:
        raise ValueError("Enter an amount like 12.34")
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    exp = exponent(currency)
    if len(frac) > exp:
        if exp == 0:
            raise ValueError(f"{currency} has no minor units")
        raise ValueError(f"At most {exp} decimal places for {currency}")
    minor = int(whole) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
    if minor > INT64_MAX:
        raise ValueError("Amount is too large")
    return -minor if sign else minor


def format_minor(amount: int, currency: str) -> str:
    """1234 EUR -> '12.34'."""
    exp = exponent(currency)
    sign = "-" if amount < 0 else ""
    a = abs(amount)
    if exp == 0:
        return f"{sign}{a:,}"
    return f"{sign}{a // 10**exp:,}.{a % 10**exp:0{exp}d}"


def major_text(amount: int, currency: str) -> str:
    """1234567 EUR -> '12345.67': an amount as typed into a field (parse_major reads it)."""
    return format_minor(amount, currency).replace(",", "")


def money_text(amount: int, currency: str) -> str:
    """1234 EUR -> '12.34 EUR': an amount as a person reads it (screens, messages, PDFs)."""
    return f"{format_minor(amount, currency)} {currency}"
