"""Account numbers people can read out (issue #17): IBAN-style, pure.

``XN`` + two check digits + bank code ``NWBK`` + a ten-digit serial, e.g.
``XN36 NWBK 0000 0000 01``. The check digits follow ISO 13616 (IBAN): move the
first four characters to the end, letters to numbers (A=10 ... Z=35), and the
whole number mod 97 must be 1, so any one mistyped character or swapped pair of
neighbours is caught. ``XN`` is from ISO 3166's user-assigned range: this is not
a real country's IBAN. The serial comes from a PostgreSQL sequence (migration
0007, whose SQL function computes the same digits); UUIDs stay the internal ids.
"""

from __future__ import annotations

from server.domain import errors
from shared.words import in_fours

COUNTRY = "XN"
BANK_CODE = "NWBK"
SERIAL_DIGITS = 10
LENGTH = 4 + len(BANK_CODE) + SERIAL_DIGITS  # 18


def _as_digits(text: str) -> str:
    return "".join(str(int(c, 36)) for c in text)


def check_digits(bban: str, country: str = COUNTRY) -> str:
    """The two check digits of ``country`` + ``bban`` (ISO 13616)."""
    remainder = int(_as_digits(bban + country + "00")) % 97
    return f"{98 - remainder:02d}"


def from_serial(serial: int) -> str:
    """The compact account number of the ``serial``-th account."""
    if not 0 < serial < 10**SERIAL_DIGITS:
        raise ValueError(f"serial out of range: {serial}")
    bban = f"{BANK_CODE}{serial:0{SERIAL_DIGITS}d}"
    return f"{COUNTRY}{check_digits(bban)}{bban}"


def is_valid(compact: str) -> bool:
    if len(compact) != LENGTH or not compact.isalnum() or not compact.isascii():
        return False
    return int(_as_digits(compact[4:] + compact[:4])) % 97 == 1


def parse(text: str) -> str:
    """The compact form of an account number typed by a person (spaces, dashes and
    case ignored); raises InvalidAccountNumberError if it is not one of ours."""
    compact = "".join(c for c in text if c not in " -").upper()
    if not compact.startswith(COUNTRY) or len(compact) != LENGTH:
        raise errors.InvalidAccountNumberError(
            f"An account number looks like {formatted(from_serial(1))} ({LENGTH} characters)."
        )
    if not is_valid(compact):
        raise errors.InvalidAccountNumberError(
            "That account number's check digits do not match: a character is mistyped."
        )
    return compact


def formatted(compact: str) -> str:
    """Groups of four, as printed on a card or a statement."""
    return in_fours(compact)


def looks_like_account_number(text: str) -> bool:
    return text.replace(" ", "").upper().startswith(COUNTRY)
