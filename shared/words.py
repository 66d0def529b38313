"""How the bank words a number of things ("1 transaction", "2 transactions") and a day
("1 Mar 2027"), in the app and in what it sends (notifications) alike."""

from __future__ import annotations

from datetime import date, datetime


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes (English: singular for one only)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def with_article(noun: str) -> str:
    """'a teller', 'an admin': the indefinite article by the noun's first letter (enough
    for the words the bank uses; not for 'an hour' or 'a user')."""
    return f"{'an' if noun[:1].lower() in 'aeio' else 'a'} {noun}"


def in_fours(text: str) -> str:
    """Groups of four, as a long code is printed to be read and typed:
    ``XN36 NWBK 0000 0000 01``, an authenticator app's key."""
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def day_text(d: date) -> str:
    """A day as a person reads it: "1 Mar 2027"."""
    return f"{d.day} {d:%b %Y}"


def moment_text(at: datetime) -> str:
    """A moment on this device's clock as a person reads it: "7 Dec 2026, 05:12"."""
    local = at.astimezone()
    return f"{day_text(local.date())}, {local:%H:%M}"


# Why the bank refused a payment, in the customer's words, by the refusal's code: what
# follows "Your transfer was not made: " in a notification, and a refused payment's date
# in the app ("8 Mar 2027 · not enough money in the account"). Only the bank's rules for
# moving money are here; other codes (a reused Idempotency-Key, a malformed amount) are
# errors in the request itself, answered to whoever sent it (tests/unit/test_words.py).
REFUSED_BECAUSE = {
    "insufficient_funds": "not enough money in the account",
    "account_frozen": "the account was frozen",
    "account_closed": "an account was closed",
    "currency_mismatch": "the two accounts hold different currencies",
    "same_account": "the two accounts are the same",
    "destination_account_not_found": "no account has that number",
    "amount_over_limit": "above the bank's limit for one payment",
    "transaction_limit_exceeded": "above the account's limit for one payment",
    "daily_limit_exceeded": "above the account's daily limit",
}
