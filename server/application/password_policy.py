"""The password policy: long enough, not the email, not a well-known password.

Length is what makes a password strong (NIST SP 800-63B); the other checks
catch the few long passwords every attacker tries first.
"""

from __future__ import annotations

import re

from shared.api import PASSWORD_MIN_LENGTH

# Well-known passwords of 12 characters or more (from public breach top lists).
_COMMON = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789123",
        "qwertyuiopas",
        "qwertyuiop123",
        "qwerty123456",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "iloveyou1234",
        "111111111111",
        "000000000000",
        "123123123123",
        "abcdefghijkl",
        "abc123abc123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "qazwsxedcrfv",
        "zaq12wsxcde3",
        "asdfghjkl123",
        "letmein12345",
        "welcome12345",
        "administrator",
        "changeme1234",
        "trustno11234",
        "football1234",
        "baseball1234",
        "superman1234",
        "monkey123456",
        "dragon123456",
        "sunshine1234",
        "princess1234",
        "qwertyqwerty",
        "passw0rd1234",
        "p@ssw0rd1234",
        "p@ssword1234",
        "mypassword123",
        "correcthorse",
    }
)


class WeakPasswordError(ValueError):
    """The message says what to do instead."""


def check_password(password: str, email: str = "", full_name: str = "") -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPasswordError(
            f"Choose a password of at least {PASSWORD_MIN_LENGTH} characters"
            " (a few words strung together work well)."
        )
    folded = password.casefold()
    if folded in _COMMON or len(set(folded)) <= 2:
        raise WeakPasswordError(
            "This password is one of the first that attackers try; choose another"
            " (a few unrelated words strung together work well)."
        )
    local = email.split("@")[0].casefold()
    compact = re.sub(r"[\W_]+", "", folded)
    names = [local, email.casefold(), *(p.casefold() for p in full_name.split())]
    if any(len(n) >= 4 and compact == re.sub(r"[\W_]+", "", n) for n in names) or (
        len(local) >= 4 and local in folded and len(folded) - len(local) < 6
    ):
        raise WeakPasswordError(
            "Your password must not be (or be built from) your email or name; choose another."
        )
