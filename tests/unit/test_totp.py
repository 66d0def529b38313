"""Codes of an authenticator app (RFC 6238), the secrets behind them, sealed at rest, and
the codes as the app takes them typed."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import pytest

from client.views.two_step import typed_code
from runtime.settings import Settings
from server.adapters.secret_box import SecretBox, UnreadableSecretError
from server.application.totp import (
    STEP_SECONDS,
    code_at,
    matching_step,
    new_secret,
    secret_text,
    setup_uri,
    step_at,
)

RFC_SECRET = b"12345678901234567890"


@pytest.mark.parametrize(
    ("unix_seconds", "eight_digits"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_codes_are_rfc_6238s(unix_seconds: int, eight_digits: str) -> None:
    """RFC 6238 appendix B (HMAC-SHA1); an app's six digits are the last six."""
    step = step_at(unix_seconds)
    assert code_at(RFC_SECRET, step, digits=8) == eight_digits
    assert code_at(RFC_SECRET, step) == eight_digits[-6:]


def test_a_code_is_taken_from_a_step_either_side_and_each_step_once() -> None:
    now = 1_700_000_000.0
    step = step_at(now)
    before, current, after = (code_at(RFC_SECRET, s) for s in (step - 1, step, step + 1))
    assert matching_step(RFC_SECRET, current, now, None) == step
    assert matching_step(RFC_SECRET, before, now, None) == step - 1  # typed as it changed
    assert matching_step(RFC_SECRET, after, now, None) == step + 1  # a phone a little ahead
    assert matching_step(RFC_SECRET, code_at(RFC_SECRET, step - 2), now, None) is None
    # Used once: that step and every earlier one are spent.
    assert matching_step(RFC_SECRET, current, now, last_step=step) is None
    assert matching_step(RFC_SECRET, before, now, last_step=step - 1) is None
    assert matching_step(RFC_SECRET, after, now, last_step=step) == step + 1
    # As people type it; and nothing that is not six digits.
    assert matching_step(RFC_SECRET, f" {current[:3]} {current[3:]} ", now, None) == step
    for wrong in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        assert matching_step(RFC_SECRET, wrong, now, None) is None
    assert STEP_SECONDS == 30


def test_the_secret_is_shown_as_an_app_takes_it() -> None:
    secret = new_secret()
    assert len(secret) == 20 and secret != new_secret()
    assert secret_text(RFC_SECRET) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    uri = urlparse(setup_uri(RFC_SECRET, "ada@example.com"))
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/Bank:ada@example.com")
    query = parse_qs(uri.query)
    assert query["secret"] == ["GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"]
    assert query["issuer"] == ["Bank"] and query["digits"] == ["6"] and query["period"] == ["30"]


def test_a_sealed_secret_opens_only_for_its_owner_under_the_same_key() -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    box = SecretBox("the signing key")
    sealed = box.seal(ada, RFC_SECRET)
    assert RFC_SECRET not in sealed and sealed != box.seal(ada, RFC_SECRET)  # a new nonce
    assert box.open(ada, sealed) == RFC_SECRET
    with pytest.raises(UnreadableSecretError):
        box.open(bob, sealed)  # copied to another user's row
    with pytest.raises(UnreadableSecretError):
        SecretBox("another key").open(ada, sealed)
    with pytest.raises(UnreadableSecretError):
        box.open(ada, sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_the_first_key_seals_every_key_opens_and_an_older_one_says_so() -> None:
    ada = uuid.uuid4()
    sealed_before = SecretBox("the old signing key").seal(ada, RFC_SECRET)
    rotated = SecretBox("a sealing key of its own", "the old signing key")
    assert rotated.opened(ada, sealed_before) == (RFC_SECRET, True)  # stale: seal again
    sealed_now = rotated.seal(ada, RFC_SECRET)
    assert rotated.opened(ada, sealed_now) == (RFC_SECRET, False)
    assert SecretBox("a sealing key of its own").open(ada, sealed_now) == RFC_SECRET
    with pytest.raises(UnreadableSecretError):
        SecretBox("the old signing key").open(ada, sealed_now)  # the old key can go
    with pytest.raises(UnreadableSecretError):
        rotated.open(uuid.uuid4(), sealed_before)  # another user's row, whichever key
    with pytest.raises(ValueError):
        SecretBox()


def test_the_sealing_keys_are_the_listed_ones_then_the_signing_key() -> None:
    assert Settings(jwt_secret="signing").sealing_keys() == ("signing",)
    listed = Settings(jwt_secret="signing", sealing_keys=" new , old,,signing ")
    assert listed.sealing_keys() == ("new", "old", "signing")


def test_the_app_takes_six_digits_as_people_type_them() -> None:
    assert typed_code("123456") == "123456"
    assert typed_code(" 123 456 ") == "123456"
    for wrong in (None, "", "12345", "1234567", "12a456", "١٢٣٤٥٦"):
        assert typed_code(wrong) is None
