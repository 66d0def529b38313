"""How the bank words a number of things ("1 transaction", "2 transactions") and a day
("1 Mar 2027"), in the app and in what it sends (notifications) alike."""

from __future__ import annotations

from datetime import date


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes (English: singular for one only)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def with_article(noun: str) -> str:
    """'a teller', 'an admin': the indefinite article by the noun's first letter (enough
    for the words the bank uses; not for 'an hour' or 'a user')."""
    return f"{'an' if noun[:1].lower() in 'aeio' else 'a'} {noun}"


def day_text(d: date) -> str:
    """A day as a person reads it: "1 Mar 2027"."""
    return f"{d.day} {d:%b %Y}"
