"""The password policy: length first, then the few long passwords attackers try first."""

from __future__ import annotations

import pytest

from server.application.password_policy import WeakPasswordError, check_password


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Tr0ub4dor&3-but-longer",
        "zebra violin pancake",
    ],
)
def test_good_passwords_pass(password: str) -> None:
    check_password(password, "ada.lovelace@example.com", "Ada Lovelace")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "at least 12"),
        ("elevenchars", "at least 12"),
        ("password1234", "attackers try"),
        ("PASSWORD1234", "attackers try"),
        ("zzzzzzzzzzzzzzzz", "attackers try"),
        ("abababababababab", "attackers try"),
        ("ada.lovelace@example.com", "email or name"),
        ("ada.lovelace1", "email or name"),
        ("Ada_Lovelace", "email or name"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    with pytest.raises(WeakPasswordError, match=reason):
        check_password(password, "ada.lovelace@example.com", "Ada Lovelace")
