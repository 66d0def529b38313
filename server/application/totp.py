"""Time-based one-time codes (RFC 6238, the authenticator apps' six digits every 30 s).

Pure: the secret, the clock and the last step used are given. A code is taken for the
step it was made in or the one before or after (a phone's clock a little off, a code
typed as it changed), and each step once: a code seen by someone over the shoulder,
or sent twice, does not sign in again (``last_step``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

DIGITS = 6
STEP_SECONDS = 30
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends for HMAC-SHA1
ISSUER = "Bank"
# Steps either side of now that a code may come from.
DRIFT_STEPS = 1


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as an authenticator app takes it typed in: base32, no padding."""
    return base64.b32encode(secret).decode().rstrip("=")


def setup_uri(secret: bytes, account_name: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (from a QR code or a link)."""
    label = quote(f"{ISSUER}:{account_name}", safe="@:")
    query = urlencode(
        {
            "secret": secret_text(secret),
            "issuer": ISSUER,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def step_at(unix_seconds: float) -> int:
    return int(unix_seconds // STEP_SECONDS)


def code_at(secret: bytes, step: int, digits: int = DIGITS) -> str:
    """RFC 4226's HOTP of the step: HMAC-SHA1, dynamic truncation, ``digits`` digits."""
    mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def matching_step(
    secret: bytes, code: str, unix_seconds: float, last_step: int | None
) -> int | None:
    """The step ``code`` was made in, near now and after ``last_step``; None if none."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = step_at(unix_seconds)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None
