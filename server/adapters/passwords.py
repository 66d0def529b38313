"""Password hashing with argon2id (argon2-cffi). Hashing runs off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the user does not exist, so timing does not reveal it: a hash
# made once with the hasher's parameters (verifying costs what those parameters cost).
# Made here at import it cost every API start one argon2 hash (0.25 s of CPU, seconds
# on a loaded machine: issue #11, a killed API back later); made again only if the
# hasher's parameters ever change.
_PRECOMPUTED_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$OA4WG+9Hq840Vp+8Vfr78w"
    "$RqsWkYKG0h2dcU0AOUSS/lo9hZIQt9XoCUEp+ZwArEo"
)
_DUMMY_HASH = (
    _hasher.hash("not-a-real-password-used-for-timing")
    if _hasher.check_needs_rehash(_PRECOMPUTED_DUMMY_HASH)
    else _PRECOMPUTED_DUMMY_HASH
)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return (
                _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
