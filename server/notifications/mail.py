"""Security alerts by email: the mail a notification of ``rules.MAILED_KINDS`` becomes.

Someone who has the customer's password can read the app's notifications and clear
them; they cannot read the customer's mailbox. So news of how the customer signs in
(the password, the email address, two-step sign-in) goes to the mailbox as well, and
a changed address's to the address the account left (``Draft.mail_to``).
"""

from __future__ import annotations

from server.notifications.inbox import DueMail

WHY_THIS_MAIL = (
    "We email you whenever the way you sign in changes: your password, your email"
    " address or two-step sign-in. These alerts cannot be turned off."
)


def alert_mail(due: DueMail) -> tuple[str, str]:
    """The subject and the text of the email for ``due``."""
    greeting = f"Hello {due.full_name}," if due.full_name else "Hello,"
    text = (
        f"{greeting}\n\n"
        f"{due.title} on {due.occurred_at:%d %B %Y at %H:%M} UTC.\n\n"
        f"{due.body}\n\n"
        f"{WHY_THIS_MAIL}\n"
    )
    return due.title, text
