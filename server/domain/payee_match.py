"""Confirmation of payee (issue #17): does the name a customer typed match the
holder of the account number they are saving? Pure.

The answer is one of ``match`` / ``close_match`` / ``no_match`` and never the
holder's real name (so the check cannot be used to look names up). Names are
compared without case, accents, punctuation, titles or the order of their parts;
a close match is one typo-sized difference, an initial for a first name, or the
surname alone.
"""

from __future__ import annotations

import difflib
import unicodedata
from typing import Literal

Match = Literal["match", "close_match", "no_match"]

_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam", "mx"})
CLOSE_RATIO = 0.85


def name_parts(name: str) -> list[str]:
    """Lower-case ASCII words of a name, titles dropped."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    words = "".join(c if c.isalnum() else " " for c in plain).split()
    return [w for w in words if w not in _TITLES]


def _initials_fit(typed: list[str], holder: list[str]) -> bool:
    """``A Lovelace`` for ``Ada Lovelace``: same surname, first names as initials."""
    if len(typed) != len(holder) or typed[-1] != holder[-1]:
        return False
    return all(
        t == h or (len(t) == 1 and h.startswith(t)) for t, h in zip(typed, holder, strict=True)
    )


def match_payee(typed: str, holder: str) -> Match:
    t, h = name_parts(typed), name_parts(holder)
    if not t or not h:
        return "no_match"
    if sorted(t) == sorted(h):
        return "match"
    if _initials_fit(t, h) or (len(t) == 1 and t[0] == h[-1]):
        return "close_match"
    ratio = difflib.SequenceMatcher(None, " ".join(sorted(t)), " ".join(sorted(h))).ratio()
    return "close_match" if ratio >= CLOSE_RATIO else "no_match"
