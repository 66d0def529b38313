"""A sign-in for an e-mail nobody has costs one argon2 verification, like a real one:
the dummy hash carries the hasher's own parameters (no argon2 hash at import)."""

from __future__ import annotations

from server.adapters import passwords


def test_the_dummy_hash_has_the_hashers_parameters() -> None:
    assert not passwords._hasher.check_needs_rehash(passwords._DUMMY_HASH)
    assert passwords._DUMMY_HASH == passwords._PRECOMPUTED_DUMMY_HASH


async def test_an_unknown_user_is_refused_after_a_full_verification() -> None:
    assert not await passwords.verify_password(None, "not-a-real-password-used-for-timing")
    real = await passwords.hash_password("correct horse")
    assert await passwords.verify_password(real, "correct horse")
    assert not await passwords.verify_password(real, "wrong horse")
