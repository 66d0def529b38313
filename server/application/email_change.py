"""A customer moves their account to a new email address.

The address is where a forgotten password's code goes (password_reset.py), so whoever
has it can take the account over: changing it takes the password, and the new address
must show it receives mail. ``send_code`` emails the new address a code like the
password reset's (eight characters, 40 bits, 30 minutes; only a keyed digest is kept, in
``email_changes``); the session service (``SessionService.confirm_email_change``) takes
it back and makes the change. A wrong code counts towards the account's sign-in lockout.

The customer is told in the app (``email_changed``) and by email at the address the
account left (a security alert: server/notifications/mail.py, sent until the mail
provider takes it): someone who signed in with a stolen password cannot move the account
away unseen. A password-reset code sent to the old address stops working. Sessions stay:
the password did not change.
"""

from __future__ import annotations

from server.adapters import email_changes
from server.adapters.mail import Mailer
from server.adapters.secret_box import keyed_digest
from server.adapters.users import UserRecord
from server.application.context import AppContext
from server.application.errors import MailUnavailableError
from server.application.password_reset import CODE_VALID_SECONDS, RESEND_AFTER_SECONDS
from shared.api import new_emailed_code, shown_code

# CODE_VALID_SECONDS and RESEND_AFTER_SECONDS (imported): an emailed code lives, and is
# sent again, as the password reset's does; one rule for both.
REQUEST_ACTION = "request_email_change"
CHANGE_ACTION = "change_email"
_DIGEST_LABEL = b"bank email change codes v1"

SENT_DETAIL = (
    "We emailed a code to the new address. Type it in within 30 minutes to move your"
    " account there; until then your email stays as it is. No email? Check the spam"
    " folder, or ask again in a minute."
)


def digest(signing_key: str, user: UserRecord, code: str) -> bytes:
    """What is kept of a code: an HMAC under a key of its own (derived from the signing
    key) over the customer's id and the code, so that a copy of the table gives no code
    and a digest moved to another customer matches nothing."""
    return keyed_digest(signing_key, _DIGEST_LABEL, user.id.bytes + code.encode())


def _code_mail(user: UserRecord, code: str) -> str:
    return (
        f"Hello {user.full_name},\n\n"
        "someone, we hope you, asked to move your bank account to this email address.\n\n"
        f"Your code: {shown_code(code)}\n\n"
        "Type it in the app within 30 minutes. It works once.\n\n"
        "Not you? Then ignore this email: nothing changes without the code.\n"
    )


async def send_code(ctx: AppContext, mailer: Mailer, user: UserRecord, new_email: str) -> bool:
    """Keep the request and email ``new_email`` its code; False (nothing sent, the
    earlier request kept) when a code went out less than a minute ago."""
    code = new_emailed_code()
    kept = digest(ctx.settings.signing_key(), user, code)
    if not await email_changes.start(
        ctx.pool, user.id, new_email, kept, CODE_VALID_SECONDS, RESEND_AFTER_SECONDS
    ):
        return False
    try:
        await mailer.send(new_email, "Your code to change your email", _code_mail(user, code))
    except MailUnavailableError:
        await email_changes.forget(ctx.pool, user.id, kept)
        raise
    return True
