"""Sessions: sign in (with lockout), refresh-token rotation, logout, listing and
revoking sessions, changing the password, and the check every authenticated request
makes.

A session is one sign-in and its family of refresh tokens (server/adapters/sessions.py).
Access tokens carry the session id (claim ``sid``); ``is_active`` tells whether
that session still exists. Its answer is cached in-process for at most
``session_check_cache_seconds`` (1 s), and a revocation made by this process
drops the cached answer at once, so a revoked session's tokens stop working on
the next request here and within a second on every other API process. The
requests that find the answer expired together share one lookup (one Redis round
trip, not one each); a revocation made while it runs is not overwritten by it.

Every outcome is audited. The effects live in Redis, so each audit record is
written in its own transaction right after the effect.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from uuid import UUID

import msgspec

from server.adapters import audit as audit_log
from server.adapters import email_changes, passwords, users
from server.adapters.audit import AuditRecord
from server.adapters.mail import Mailer
from server.adapters.rate_limits import FailureLock
from server.adapters.sessions import SessionRecord, SessionStore
from server.adapters.users import UserRecord
from server.application import auth, email_change, password_reset, two_step
from server.application.context import Actor, AppContext
from server.application.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    SameEmailError,
    SessionNotFoundError,
    TooManyAttemptsError,
    TwoStepRequiredError,
    UserNotFoundError,
    WrongEmailCodeError,
    WrongPasswordError,
    WrongResetCodeError,
    WrongSignInCodeError,
    WrongTwoStepCodeError,
)
from server.application.password_policy import WeakPasswordError, check_password
from server.domain.errors import DomainError
from shared.words import counted

_MAX_CACHED = 100_000


def _lock_key(email: str) -> str:
    """Whose failures an attempt counts towards: a sign-in's and a password change's
    for one account are the same."""
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class SignedIn:
    user_id: UUID
    role: str
    session_id: str
    refresh_token: str


class SessionService:
    def __init__(
        self,
        ctx: AppContext,
        store: SessionStore,
        account_lock: FailureLock,
        ip_lock: FailureLock,
        mailer: Mailer | None = None,
    ) -> None:
        self._ctx = ctx
        self._store = store
        self._account_lock = account_lock
        self._ip_lock = ip_lock
        self._mailer = mailer
        self._cache_for = ctx.settings.session_check_cache_seconds
        self._active: dict[str, tuple[float, bool]] = {}
        self._looking_up: dict[str, asyncio.Task[bool]] = {}

    # -- the check on every request ---------------------------------------------
    async def is_active(self, session_id: str) -> bool:
        cached = self._active.get(session_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lookup = self._looking_up.get(session_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(session_id))
            self._looking_up[session_id] = lookup
        # Shielded: a request that goes away does not cancel the others' lookup.
        return await asyncio.shield(lookup)

    async def _look_up(self, session_id: str) -> bool:
        me, asked = asyncio.current_task(), time.monotonic()
        try:
            active = await self._store.exists(session_id)
        finally:
            ours = self._looking_up.get(session_id) is me  # else revoked meanwhile
            if ours:
                del self._looking_up[session_id]
        if ours:
            if len(self._active) >= _MAX_CACHED:
                self._active.clear()
            self._active[session_id] = (asked + self._cache_for, active)
        return active

    def _forget(self, *session_ids: str) -> None:
        for sid in session_ids:
            self._looking_up.pop(sid, None)  # a lookup in flight must not cache "active"
            self._active[sid] = (time.monotonic() + self._cache_for, False)

    # -- sign in ----------------------------------------------------------------
    async def sign_in(
        self, email: str, password: str, audit: AuditRecord, code: str = ""
    ) -> SignedIn:
        """Password grant, with a code from the customer's authenticator app when their
        two-step sign-in is on. Too many failures (a wrong password or a wrong code) lock
        the account and the client IP out."""
        account_key, ip = _lock_key(email), audit.client_ip or "unknown"
        audit = msgspec.structs.replace(
            audit, action="sign_in", target_type="user", details={"username": email[:254]}
        )
        await self._refuse_while_locked(audit, "failed sign-ins", account_key, ip)
        try:
            user = await auth.authenticate(self._ctx, email, password)
        except InvalidCredentialsError:
            await self._account_lock.failed(account_key)
            await self._ip_lock.failed(ip)
            await audit_log.write_alone(self._ctx.pool, audit.refused("invalid_credentials"))
            raise
        try:
            taken = await two_step.check_at_sign_in(self._ctx, user, code)
        except TwoStepRequiredError as err:  # the app asks for the code and sends both again
            await audit_log.write_alone(self._ctx.pool, audit.refused(err.code))
            raise
        except WrongSignInCodeError as err:
            await self._account_lock.failed(account_key)
            await self._ip_lock.failed(ip)
            await audit_log.write_alone(self._ctx.pool, audit.refused(err.code))
            raise
        await self._account_lock.succeeded(account_key)
        sid, refresh = await self._store.create(user.id, user.role, ip, audit.user_agent or "")
        details = audit.details
        if taken is not None and taken.recovery_codes_left is not None:  # the customer is told
            details = {**(details or {}), "recovery_codes_left": taken.recovery_codes_left}
        await audit_log.write_alone(
            self._ctx.pool,
            msgspec.structs.replace(
                audit,
                actor_id=user.id,
                actor_role=user.role,
                session_id=sid,
                target_id=str(user.id),
                details=details,
            ).accepted(),
        )
        return SignedIn(user.id, user.role, sid, refresh)

    # -- refresh ----------------------------------------------------------------
    async def refresh(self, refresh_token: str, audit: AuditRecord) -> SignedIn:
        """Rotate the refresh token. Reusing a rotated one revokes the whole session."""
        rotation = await self._store.rotate(
            refresh_token, audit.client_ip or "", audit.user_agent or ""
        )
        audit = msgspec.structs.replace(
            audit,
            action="refresh_token",
            target_type="session",
            target_id=rotation.session_id or None,
            session_id=rotation.session_id or None,
            actor_id=rotation.user_id,
            actor_role=rotation.role,
        )
        if rotation.status == "ok":
            assert rotation.user_id and rotation.role and rotation.refresh_token
            await audit_log.write_alone(self._ctx.pool, audit.accepted())
            return SignedIn(
                rotation.user_id, rotation.role, rotation.session_id, rotation.refresh_token
            )
        if rotation.status == "reused":
            self._forget(rotation.session_id)
            await audit_log.write_alone(self._ctx.pool, audit.refused("refresh_token_reused"))
            raise InvalidCredentialsError(
                "This refresh token was already used, so the session may be stolen: it has"
                " been ended. Sign in again."
            )
        await audit_log.write_alone(self._ctx.pool, audit.refused("invalid_refresh_token"))
        raise InvalidCredentialsError("The refresh token is invalid or expired; sign in again.")

    # -- logout and sessions ----------------------------------------------------------
    async def logout(self, actor: Actor, audit: AuditRecord) -> None:
        if actor.session_id:
            await self._store.delete(actor.session_id, actor.user_id)
            self._forget(actor.session_id)
        await audit_log.write_alone(
            self._ctx.pool,
            msgspec.structs.replace(
                audit,
                action="logout",
                target_type="session",
                target_id=actor.session_id,
            ).accepted(),
        )

    async def list_sessions(self, actor: Actor) -> list[SessionRecord]:
        return await self._store.list_for_user(actor.user_id)

    async def revoke(self, actor: Actor, session_id: str, audit: AuditRecord) -> None:
        """End one of the caller's own sessions (another user's is not found)."""
        audit = msgspec.structs.replace(
            audit, action="revoke_session", target_type="session", target_id=session_id[:64]
        )
        record = await self._store.get(session_id) if len(session_id) <= 64 else None
        if record is None or record.user_id != actor.user_id:
            await audit_log.write_alone(self._ctx.pool, audit.refused("session_not_found"))
            raise SessionNotFoundError("You have no session with this id.")
        await self._store.delete(session_id, actor.user_id)
        self._forget(session_id)
        await audit_log.write_alone(self._ctx.pool, audit.accepted())

    async def _unless_locked_out(
        self, actor: Actor, audit: AuditRecord, tries: str
    ) -> tuple[UserRecord, str]:
        """The signed-in user and the key of their account's lockout, which a wrong
        current password or code counts towards as a failed sign-in does; refused (429,
        audited) while the account is locked out."""
        user = await users.find_by_id(self._ctx.pool, actor.user_id)
        if user is None:
            raise UserNotFoundError("This user no longer exists.")
        account_key = _lock_key(user.email)
        await self._refuse_while_locked(audit, tries, account_key)
        return user, account_key

    async def _with_password(
        self, actor: Actor, password: str, audit: AuditRecord, wrong: str
    ) -> UserRecord:
        """The signed-in user, once ``password`` is theirs: a wrong one counts towards the
        sign-in lockout (refused as ``WrongPasswordError(wrong)``, audited), so asking for
        it again is no way around the lockout."""
        user, account_key = await self._unless_locked_out(actor, audit, "wrong passwords")
        if not await passwords.verify_password(user.password_hash, password):
            await self._account_lock.failed(account_key)
            await audit_log.write_alone(self._ctx.pool, audit.refused("wrong_password"))
            raise WrongPasswordError(wrong)
        await self._account_lock.succeeded(account_key)
        return user

    async def _refuse_while_locked(
        self, audit: AuditRecord, tries: str, account_key: str | None, ip: str | None = None
    ) -> None:
        """429 (audited ``locked_out``) while the account or the client address is locked
        out by too many ``tries`` (wrong passwords, codes, reset codes)."""
        wait = await self._account_lock.locked_for(account_key) if account_key else 0
        if ip is not None:
            wait = max(wait, await self._ip_lock.locked_for(ip))
        if wait:
            await audit_log.write_alone(self._ctx.pool, audit.refused("locked_out"))
            raise TooManyAttemptsError(
                f"Too many {tries}; try again in {counted(wait, 'second')}.", wait
            )

    # -- the password ------------------------------------------------------------------
    async def change_password(
        self, actor: Actor, current: str, new: str, audit: AuditRecord
    ) -> int:
        """Replace the caller's password, given the current one, and end every other
        session of theirs (a thief signed in elsewhere is signed out); the session that
        asked stays signed in. Returns how many were ended. A wrong current password
        counts towards the sign-in lockout of the account, so this is no way around
        it; the new one must pass the password policy (``WeakPasswordError``)."""
        audit = msgspec.structs.replace(
            audit, action="change_password", target_type="user", target_id=str(actor.user_id)
        )
        user = await self._with_password(actor, current, audit, "The current password is wrong.")
        if new == current:
            raise WeakPasswordError("Choose a new password, not the one you have.")
        check_password(new, user.email, user.full_name)
        password_hash = await passwords.hash_password(new)
        # The other sessions end first: if the change then fails (the database is away),
        # the current password still works and a retry succeeds; the other way round, a
        # retry would find its current password wrong.
        others = [
            s.id for s in await self._store.list_for_user(user.id) if s.id != actor.session_id
        ]
        for sid in others:
            await self._store.delete(sid, user.id)
        self._forget(*others)
        async with self._ctx.pool.acquire() as conn, conn.transaction():
            await users.set_password_hash(conn, user.id, password_hash)
            await audit_log.write(conn, audit.accepted())
        return len(others)

    # -- a forgotten password -----------------------------------------------------------
    async def request_password_reset(self, email: str, audit: AuditRecord) -> None:
        """Email a code to reset the password to ``email`` if it has an account (answered
        the same either way); audited with what was done."""
        audit = msgspec.structs.replace(
            audit,
            action=password_reset.REQUEST_ACTION,
            target_type="user",
            details={"email": email[:254]},
        )
        await self._refuse_while_locked(
            audit, "failed attempts", None, audit.client_ip or "unknown"
        )
        user = await users.find_by_email(self._ctx.pool, email)
        if user is None:
            await audit_log.write_alone(self._ctx.pool, audit.refused("unknown_email"))
            return
        assert self._mailer is not None, "a session service that resets passwords needs a mailer"
        audit = msgspec.structs.replace(audit, target_id=str(user.id))
        if not await password_reset.send_code(self._ctx, self._mailer, user):
            await audit_log.write_alone(self._ctx.pool, audit.refused("code_sent_recently"))
            return
        await audit_log.write_alone(self._ctx.pool, audit.accepted())

    async def reset_password(self, email: str, code: str, new: str, audit: AuditRecord) -> int:
        """Replace the password of ``email``'s account given the code emailed to it: every
        session ends (whoever knew the old password is signed out). A wrong, used or
        expired code counts towards the sign-in lockout; the new password must pass the
        policy (``WeakPasswordError``, the code is kept). Returns how many sessions
        ended."""
        account_key, ip = _lock_key(email), audit.client_ip or "unknown"
        audit = msgspec.structs.replace(
            audit,
            action=password_reset.RESET_ACTION,
            target_type="user",
            details={"email": email[:254]},
        )
        await self._refuse_while_locked(audit, "wrong codes", account_key, ip)
        user = await users.find_by_email(self._ctx.pool, email)
        taken = await password_reset.code_is_right(self._ctx, user, code) if user else None
        if user is not None:
            audit = msgspec.structs.replace(audit, target_id=str(user.id))
        if user is None or taken is None:
            await self._account_lock.failed(account_key)
            await self._ip_lock.failed(ip)
            await audit_log.write_alone(self._ctx.pool, audit.refused("wrong_reset_code"))
            raise WrongResetCodeError(
                "That code is wrong, was used, or is older than 30 minutes. Check the latest"
                " email from the bank, or ask for a new code."
            )
        check_password(new, user.email, user.full_name)
        password_hash = await passwords.hash_password(new)
        audit = msgspec.structs.replace(audit, actor_id=user.id, actor_role=user.role)
        # Sessions end first, as for a changed password: if the reset then fails, a retry
        # with the same code does it; the other way round, a thief stays signed in.
        ended = await self._store.delete_all(user.id)
        self._forget(*ended)
        async with self._ctx.pool.acquire() as conn, conn.transaction():
            if not await users.reset_password(conn, user.id, password_hash, taken):
                raise WrongResetCodeError("That code was used meanwhile; ask for a new one.")
            await audit_log.write(conn, audit.accepted())
        await self._account_lock.succeeded(account_key)
        return len(ended)

    # -- a new email address ------------------------------------------------------------
    async def start_email_change(
        self, actor: Actor, new_email: str, password: str, audit: AuditRecord
    ) -> str:
        """Email a code to ``new_email`` that moves the caller's account there, given
        their password (a wrong one counts towards the sign-in lockout). Refused when it
        is their address already (``SameEmailError``), another account's
        (``EmailTakenError``), or a code went out less than a minute ago (429). Returns
        the address written to."""
        audit = msgspec.structs.replace(
            audit, action=email_change.REQUEST_ACTION, details={"new_email": new_email[:254]}
        ).about_user(actor.user_id)
        user = await self._with_password(actor, password, audit, "The password is wrong.")
        refusal: DomainError | None = None
        holder = await users.find_by_email(self._ctx.pool, new_email)  # in any case
        if holder is not None and holder.id == user.id:
            refusal = SameEmailError("That is the email you have; type the new one.")
        elif holder is not None:
            refusal = EmailTakenError("Another account has this email; choose another.")
        else:
            assert self._mailer is not None, "a session service that changes emails needs a mailer"
            if not await email_change.send_code(self._ctx, self._mailer, user, new_email):
                refusal = TooManyAttemptsError(
                    "We sent a code less than a minute ago; wait for it, or ask again in a minute.",
                    password_reset.RESEND_AFTER_SECONDS,
                )
        if refusal is not None:
            await audit_log.write_alone(self._ctx.pool, audit.refused(refusal.code))
            raise refusal
        await audit_log.write_alone(self._ctx.pool, audit.accepted())
        return new_email

    async def confirm_email_change(self, actor: Actor, code: str, audit: AuditRecord) -> str:
        """Move the caller's account to the address the code was sent to (the old address
        is emailed by the notification consumer, from the audit row written here with the
        change: server/notifications/mail.py). A wrong, used or expired code counts
        towards the sign-in lockout (``WrongEmailCodeError``); an address another account
        took meanwhile is ``EmailTakenError`` (the request is void). Returns the new
        address."""
        audit = msgspec.structs.replace(audit, action=email_change.CHANGE_ACTION).about_user(
            actor.user_id
        )
        user, account_key = await self._unless_locked_out(actor, audit, "wrong codes")
        given = email_change.digest(self._ctx.settings.signing_key(), user, code)
        async with self._ctx.pool.acquire() as conn:
            async with conn.transaction():
                new_email = await email_changes.take(conn, user.id, given)
                moved = new_email is not None and await users.set_email(conn, user.id, new_email)
                if moved:
                    audit = msgspec.structs.replace(
                        audit, details={"old_email": user.email, "new_email": new_email}
                    )
                    await audit_log.write(conn, audit.accepted())
        if new_email is None:
            await self._account_lock.failed(account_key)
            await audit_log.write_alone(self._ctx.pool, audit.refused("wrong_email_code"))
            raise WrongEmailCodeError(
                "That code is wrong, was used, or is older than 30 minutes. Check the latest"
                " email sent to the new address, or ask for a new code."
            )
        if not moved:
            await audit_log.write_alone(self._ctx.pool, audit.refused(EmailTakenError.code))
            raise EmailTakenError(
                f"Another account took {new_email} meanwhile; your email stays as it is."
            )
        await self._account_lock.succeeded(account_key)
        return new_email

    # -- two-step sign-in ----------------------------------------------------------------
    async def confirm_two_step(self, actor: Actor, code: str, audit: AuditRecord) -> list[str]:
        """Turn two-step sign-in on with a code from the secret just set up; the recovery
        codes it comes with."""
        audit = msgspec.structs.replace(
            audit, action=two_step.TURN_ON_ACTION, target_type="user", target_id=str(actor.user_id)
        )
        try:
            codes = await two_step.confirm(self._ctx, actor, code)
        except DomainError as err:
            await audit_log.write_alone(self._ctx.pool, audit.refused(err.code))
            raise
        await audit_log.write_alone(self._ctx.pool, audit.accepted())
        return codes

    async def new_recovery_codes(self, actor: Actor, code: str, audit: AuditRecord) -> list[str]:
        """New recovery codes for a current code (or a recovery code); a wrong one counts
        towards the sign-in lockout, as at ``turn_two_step_off``."""
        audit = msgspec.structs.replace(
            audit, action=two_step.NEW_RECOVERY_CODES_ACTION
        ).about_user(actor.user_id)
        _, account_key = await self._unless_locked_out(actor, audit, "wrong codes")
        try:
            codes = await two_step.new_recovery_codes(self._ctx, actor, code)
        except DomainError as err:
            if isinstance(err, WrongTwoStepCodeError):
                await self._account_lock.failed(account_key)
            await audit_log.write_alone(self._ctx.pool, audit.refused(err.code))
            raise
        await self._account_lock.succeeded(account_key)
        await audit_log.write_alone(self._ctx.pool, audit.accepted())
        return codes

    async def turn_two_step_off(self, actor: Actor, code: str, audit: AuditRecord) -> None:
        """Turn two-step sign-in off with a current code. A wrong code counts towards the
        sign-in lockout of the account, as a wrong password does: a session left open
        is no way to try every code. Off already: answered the same (a retry)."""
        audit = msgspec.structs.replace(
            audit, action=two_step.TURN_OFF_ACTION, target_type="user", target_id=str(actor.user_id)
        )
        _, account_key = await self._unless_locked_out(actor, audit, "wrong codes")
        try:
            turned_off = await two_step.turn_off(self._ctx, actor, code)
        except WrongTwoStepCodeError as err:
            await self._account_lock.failed(account_key)
            await audit_log.write_alone(self._ctx.pool, audit.refused(err.code))
            raise
        await self._account_lock.succeeded(account_key)
        await audit_log.write_alone(
            self._ctx.pool, audit.accepted() if turned_off else audit.replayed()
        )

    async def revoke_all(self, user_id: UUID) -> list[str]:
        """End every session of a user (after a role change); return their ids."""
        sids = await self._store.delete_all(user_id)
        self._forget(*sids)
        return sids
