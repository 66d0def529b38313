"""Recovery codes of two-step sign-in: how they are made, typed and kept."""

from __future__ import annotations

import re
import uuid

from server.adapters.secret_box import SecretBox
from server.application.two_step import RECOVERY_CODES, make_recovery_codes
from shared.api import (
    CODE_ALPHABET,
    RECOVERY_CODE_LENGTH,
    TWO_STEP_CODE_PATTERN,
    shown_code,
    typed_recovery_code,
)


def test_ten_codes_of_ten_characters_nobody_misreads_shown_in_two_halves() -> None:
    codes = make_recovery_codes()
    assert len(codes) == RECOVERY_CODES == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == RECOVERY_CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
        assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", shown_code(code))
        assert typed_recovery_code(shown_code(code)) == code


def test_a_code_is_taken_as_people_type_it_where_an_app_code_is() -> None:
    for typed in ("ABCDE-FGHJK", "abcde-fghjk", " abcde fghjk ", "ABCDEFGHJK"):
        assert typed_recovery_code(typed) == "ABCDEFGHJK"
        assert re.match(TWO_STEP_CODE_PATTERN, typed)  # the request body lets it in
    for wrong in (None, "", "ABCD-EFGH", "ABCDE-FGHJ", "ABCDE-FGHJ0", "ABCDE-FGHJI", "123456"):
        assert typed_recovery_code(wrong) is None
    for app_code in ("123456", "123 456"):
        assert re.match(TWO_STEP_CODE_PATTERN, app_code)
    for neither in ("ABCD-EFGH", "12345", "1234567", "ABCDE-FGHJ0"):
        assert not re.match(TWO_STEP_CODE_PATTERN, neither)


def test_a_code_is_kept_as_a_keyed_digest_bound_to_its_customer_under_every_key() -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    box = SecretBox("the new key", "the old key")
    [new, old] = box.digests(ada, "ABCDEFGHJK")
    assert len(new) == 32 and new != old
    assert b"ABCDEFGHJK" not in new
    # Kept under the first key; a code kept before the key was rotated is still found.
    assert SecretBox("the old key").digests(ada, "ABCDEFGHJK") == [old]
    assert SecretBox("the new key").digests(ada, "ABCDEFGHJK") == [new]
    # Another customer's row with the same code, or another code: another digest.
    assert new not in box.digests(bob, "ABCDEFGHJK") + box.digests(ada, "ABCDEFGHJL")
