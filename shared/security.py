"""REST bodies of sessions, roles and the audit trail (JSON). Unknown fields are rejected."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from shared.api import Email, EmailedCode, Password, Request, TwoStepCode

Role = Literal["customer", "teller", "admin", "auditor"]


class SessionResponse(msgspec.Struct, kw_only=True):
    id: str
    created_at: datetime
    last_used_at: datetime
    ip: str
    user_agent: str
    current: bool = False


class SessionList(msgspec.Struct, kw_only=True):
    items: list[SessionResponse]


class RoleChangeRequest(Request, frozen=True):
    role: Role


class ChangePasswordRequest(Request, frozen=True):
    current_password: Password
    new_password: Password


class TwoStepCodeRequest(Request, frozen=True):
    """A code from the customer's authenticator app, to confirm or turn off two-step
    sign-in or to ask for new recovery codes; turning it off takes a recovery code too."""

    code: TwoStepCode


class TwoStepSetup(msgspec.Struct, kw_only=True):
    """A new secret for an authenticator app: ``secret`` to type in (base32, in groups of
    four), ``setup_uri`` to open or show as a QR code. Nothing changes until a code from
    it is confirmed."""

    secret: str
    setup_uri: str


class TwoStepState(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Whether two-step sign-in is on. Turned on, ``recovery_codes``: ten codes, each of
    which signs in once instead of a code from the app (a lost phone); shown this once,
    the bank keeps only digests of them."""

    two_step: bool
    recovery_codes: list[str] = []


class RecoveryCodes(msgspec.Struct, kw_only=True):
    """A new set of recovery codes (the earlier ones no longer work); shown this once."""

    recovery_codes: list[str]


class PasswordChanged(msgspec.Struct, kw_only=True):
    """The password is replaced; this many other sessions of the user were ended."""

    other_sessions_ended: int


class PasswordResetRequest(Request, frozen=True):
    """Forgot the password: a code to reset it is emailed to ``email`` if it has an account."""

    email: Email


class PasswordResetSent(msgspec.Struct, kw_only=True):
    """The same answer whether the email has an account or not (no one learns which
    emails are customers'): what to do next, and how long a code is valid."""

    detail: str
    code_valid_for_seconds: int


class PasswordResetConfirm(Request, frozen=True):
    """The emailed ``code`` and the ``new_password`` for the account of ``email``."""

    email: Email
    code: EmailedCode
    new_password: Password


class PasswordReset(msgspec.Struct, kw_only=True):
    """The password is replaced; this many sessions of the user were ended (all)."""

    sessions_ended: int


class ChangeEmailRequest(Request, frozen=True):
    """Move the account to ``new_email``, given the ``password``: a code is emailed there,
    and the change is made when it comes back (``ConfirmEmailChange``)."""

    new_email: Email
    password: Password


class EmailChangeStarted(msgspec.Struct, kw_only=True):
    """A code was emailed to ``sent_to``; nothing changed yet. What to do next, and how
    long the code is valid."""

    sent_to: str
    detail: str
    code_valid_for_seconds: int


class ConfirmEmailChange(Request, frozen=True):
    """The ``code`` emailed to the new address."""

    code: EmailedCode


class EmailChanged(msgspec.Struct, kw_only=True):
    """The account's email is now ``email`` (sign in with it; the old one is told)."""

    email: str


class UserResponse(msgspec.Struct, kw_only=True):
    id: UUID
    email: str
    full_name: str
    role: Role


class ProfileResponse(UserResponse, kw_only=True):
    """GET /me: who is signed in, and what the bank lets them do that an app shows or
    hides: ``can_deposit``, whether a deposit of theirs is taken (a customer's is a
    development top-up, which a bank in production does not have); ``two_step``, whether
    signing in also asks for a code from an authenticator app."""

    can_deposit: bool = True
    # Whether signing in asks for a code from an authenticator app as well.
    two_step: bool = False
    # Of the recovery codes given when it was turned on, how many were not used.
    recovery_codes_left: int = 0
    # A new email address waiting for the code sent to it (POST /me/email/confirm).
    email_change_pending_to: str | None = None


class AuditEntry(msgspec.Struct, kw_only=True):
    id: int
    occurred_at: datetime
    action: str
    outcome: Literal["accepted", "rejected", "denied", "replayed"]
    actor_id: UUID | None = None
    actor_role: str | None = None
    session_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    account_id: UUID | None = None
    reason_code: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    trace_id: str | None = None
    details: dict[str, Any] = {}


class AuditPage(msgspec.Struct, kw_only=True):
    items: list[AuditEntry]
    next_cursor: str | None = None
