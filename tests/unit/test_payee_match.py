"""Confirmation of payee (issue #17): match / close match / no match, never the name."""

from __future__ import annotations

import pytest

from server.domain.payee_match import match_payee


@pytest.mark.parametrize(
    ("typed", "holder", "expected"),
    [
        ("Ada Lovelace", "Ada Lovelace", "match"),
        ("  ada   LOVELACE ", "Ada Lovelace", "match"),
        ("Lovelace, Ada", "Ada Lovelace", "match"),
        ("Mrs Ada Lovelace", "Ada Lovelace", "match"),
        ("Zoë Brontë", "Zoe Bronte", "match"),
        ("A Lovelace", "Ada Lovelace", "close_match"),
        ("Lovelace", "Ada Lovelace", "close_match"),
        ("Ada Lovelase", "Ada Lovelace", "close_match"),
        ("Charles Babbage", "Ada Lovelace", "no_match"),
        ("Ada", "Ada Lovelace", "no_match"),
        ("", "Ada Lovelace", "no_match"),
        ("B Lovelace", "Ada Lovelace", "no_match"),
    ],
)
def test_the_name_typed_is_compared_with_the_holders(
    typed: str, holder: str, expected: str
) -> None:
    assert match_payee(typed, holder) == expected
