"""Account numbers as the app shows and reads them (issue #17).

The bank checks the number (mod-97 check digits) and answers a mistyped one with a
400 that says so; the app only tidies what it shows and what the customer typed:
groups of four, upper case, and whether the text has the shape of one of our
numbers at all (``XN`` and 18 characters), so an obvious slip is caught before the
payment is queued. UUIDs are internal ids and are never shown.
"""

from __future__ import annotations

from shared.words import in_fours

COUNTRY = "XN"
LENGTH = 18


def compact(text: str) -> str:
    """Spaces and dashes dropped, upper case: how the number is compared."""
    return "".join(c for c in text if c not in " -").upper()


def grouped(text: str) -> str:
    """Groups of four, as printed on a card or a statement: ``XN36 NWBK 0000 0000 01``."""
    return in_fours(compact(text))


def has_shape(text: str) -> bool:
    """True when the text could be one of our account numbers (the bank checks the rest)."""
    c = compact(text)
    return len(c) == LENGTH and c.startswith(COUNTRY) and c.isascii() and c.isalnum()


def shape_problem(text: str) -> str | None:
    """What to tell a customer whose typed number cannot be one of ours, else None."""
    if not text.strip():
        return "Enter the recipient's account number"
    if not has_shape(text):
        return f"An account number starts with {COUNTRY} and has {LENGTH} characters"
    return None
