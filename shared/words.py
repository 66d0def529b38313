"""How the bank words a number of things: "1 transaction", "2 transactions"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes (English: singular for one only)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
