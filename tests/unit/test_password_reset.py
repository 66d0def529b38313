"""The codes the bank emails (a forgotten password's, a new address's): how they are
made, typed and kept."""

from __future__ import annotations

from server.application.password_reset import digest
from shared.api import (
    CODE_ALPHABET,
    EMAILED_CODE_LENGTH,
    new_emailed_code,
    shown_code,
    typed_emailed_code,
)


def test_a_code_is_eight_characters_nobody_misreads_shown_in_two_halves() -> None:
    codes = {new_emailed_code() for _ in range(200)}
    assert len(codes) == 200  # 40 bits: no two alike in a few hundred
    for code in codes:
        assert len(code) == EMAILED_CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    assert not set("01IO") & set(CODE_ALPHABET) and len(CODE_ALPHABET) == 32
    assert shown_code("ABCDEFGH") == "ABCD-EFGH"


def test_a_code_is_taken_as_people_type_it() -> None:
    for typed in ("ABCD-EFGH", "abcd-efgh", " abcd efgh ", "ABCDEFGH"):
        assert typed_emailed_code(typed) == "ABCDEFGH"
    for wrong in (None, "", "ABCD-EFG", "ABCD-EFGHJ", "ABCD-EFG0", "ABCD-EFGI", "ÀBCD-EFGH"):
        assert typed_emailed_code(wrong) is None


def test_only_a_keyed_digest_of_a_code_is_kept() -> None:
    kept = digest("the signing key", "ABCDEFGH")
    assert kept == digest("the signing key", "ABCDEFGH") and len(kept) == 32
    assert kept != digest("the signing key", "ABCDEFGJ")
    assert kept != digest("another signing key", "ABCDEFGH")  # a table copy alone opens none
