"""What is kept of an email-change code."""

from __future__ import annotations

import uuid

from server.adapters.users import UserRecord
from server.application import email_change, password_reset

KEY = "a signing key for the tests, long enough"


def _user(name: str = "Ada Lovelace") -> UserRecord:
    return UserRecord(
        id=uuid.uuid4(),
        email="ada@example.com",
        password_hash="x",
        full_name=name,
        role="customer",
        two_step=False,
    )


def test_a_code_is_kept_as_a_digest_bound_to_its_customer_and_its_purpose() -> None:
    ada, bob = _user(), _user("Bob")
    kept = email_change.digest(KEY, ada, "ABCDEFGH")
    assert kept == email_change.digest(KEY, ada, "ABCDEFGH")
    assert b"ABCDEFGH" not in kept and len(kept) == 32
    assert kept != email_change.digest(KEY, bob, "ABCDEFGH")  # moved to another: no match
    assert kept != email_change.digest(KEY, ada, "ABCDEFGJ")
    assert kept != email_change.digest("another signing key, long enough", ada, "ABCDEFGH")
    # a password-reset code of the same letters is another digest: one is not the other
    assert kept != password_reset.digest(KEY, "ABCDEFGH")
