"""A forgotten password, reset with a code emailed to the customer.

``send_code`` makes a code of eight characters (40 bits, from an alphabet without the
characters people misread), keeps only a keyed digest of it, valid for 30 minutes, and
emails it. The session service (``SessionService.reset_password``) takes it back with
the new password: a wrong code counts towards the account's and the address's sign-in
lockout (five, then 15 minutes), so the 2^40 codes cannot be tried; a right one works
once, ends every session and notifies the customer (``password_changed``). Two-step
sign-in, when on, stays on: the new password alone does not sign in.

Whether an email has an account is not told: the request is answered the same either
way, and a second code within a minute of the first is not sent (no mailbox is flooded).
"""

from __future__ import annotations

import hmac

from server.adapters import users
from server.adapters.mail import Mailer
from server.adapters.secret_box import keyed_digest
from server.adapters.users import UserRecord
from server.application.context import AppContext
from server.application.errors import MailUnavailableError
from shared.api import new_emailed_code, shown_code

CODE_VALID_SECONDS = 30 * 60
RESEND_AFTER_SECONDS = 60
REQUEST_ACTION = "request_password_reset"
RESET_ACTION = "reset_password"
_DIGEST_LABEL = b"bank password reset codes v1"

SENT_DETAIL = (
    "If an account has this email, we sent it a code to reset the password. Type it in"
    " with your new password within 30 minutes; it works once. No email? Check the spam"
    " folder, or ask again in a minute."
)


def digest(signing_key: str, code: str) -> bytes:
    """What is kept of a code: an HMAC under a key of its own, derived from the signing
    key, so that a copy of the users table alone cannot be searched for the codes."""
    return keyed_digest(signing_key, _DIGEST_LABEL, code.encode())


def _mail_body(user: UserRecord, code: str) -> str:
    return (
        f"Hello {user.full_name},\n\n"
        "someone, we hope you, asked to reset the password of your bank account.\n\n"
        f"Your code: {shown_code(code)}\n\n"
        "Type it in the app with your new password within 30 minutes. It works once.\n\n"
        "Not you? Then ignore this email: your password stays as it is.\n"
    )


async def send_code(ctx: AppContext, mailer: Mailer, user: UserRecord) -> bool:
    """Email ``user`` a new code; False (nothing sent) when one went out less than a
    minute ago."""
    code = new_emailed_code()
    kept = digest(ctx.settings.signing_key(), code)
    if not await users.set_reset_code(
        ctx.pool, user.id, kept, CODE_VALID_SECONDS, RESEND_AFTER_SECONDS
    ):
        return False
    try:
        await mailer.send(user.email, "Your code to reset your password", _mail_body(user, code))
    except MailUnavailableError:
        await users.forget_reset_code(ctx.pool, user.id, kept)
        raise
    return True


async def code_is_right(ctx: AppContext, user: UserRecord, code: str) -> bytes | None:
    """The digest of ``code`` when it is the user's current, unexpired code; else None."""
    kept = await users.valid_reset_code(ctx.pool, user.id)
    given = digest(ctx.settings.signing_key(), code)
    return given if kept is not None and hmac.compare_digest(kept, given) else None
