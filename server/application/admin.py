"""Staff functions: assign roles (admin), turn a customer's two-step sign-in off for
one who lost their authenticator (admin), search the audit trail (auditor, admin),
and the bootstrap admin created at start-up from settings.

A role change takes effect at once: the user's sessions are ended, so tokens
carrying the old role stop working and the next sign-in carries the new one.
An admin cannot change their own role (so the last admin cannot lock everyone out).
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path
from uuid import UUID, uuid4

import msgspec

from runtime.settings import Settings
from server.adapters import audit as audit_log
from server.adapters import passwords, users
from server.adapters.audit import AuditRecord, AuditRow
from server.adapters.users import UserRecord
from server.application import two_step
from server.application.access import check_role
from server.application.context import Actor, AppContext
from server.application.errors import PermissionDeniedError, UserNotFoundError
from server.application.sessions import SessionService
from server.domain.errors import DomainError

_CHANGE_ROLE = """
UPDATE users u SET role = $2
FROM (SELECT id, role FROM users WHERE id = $1 FOR UPDATE) old
WHERE u.id = old.id
RETURNING u.id, u.email, u.password_hash, u.full_name, u.role,
          u.totp_secret IS NOT NULL AS two_step, old.role AS old_role
"""


async def change_role(
    ctx: AppContext,
    sessions: SessionService,
    actor: Actor,
    user_id: UUID,
    role: str,
    audit: AuditRecord,
) -> UserRecord:
    audit = msgspec.structs.replace(
        audit,
        action="change_role",
        target_type="user",
        target_id=str(user_id),
        details={"role": role},
    )
    try:
        _check_may_change_role(actor, user_id)
        async with ctx.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_CHANGE_ROLE, user_id, role)
            if row is None:
                raise UserNotFoundError("No user with this id.")
            details = {"role": role, "previous_role": row["old_role"]}
            await audit_log.write(conn, msgspec.structs.replace(audit, details=details).accepted())
    except DomainError as err:
        await audit_log.write_alone(ctx.pool, audit.refused(err.code))
        raise
    await sessions.revoke_all(user_id)
    return UserRecord(**{k: v for k, v in dict(row).items() if k != "old_role"})


def _check_may_change_role(actor: Actor, user_id: UUID) -> None:
    check_role(actor, "admin")
    if user_id == actor.user_id:
        raise PermissionDeniedError("You cannot change your own role; ask another admin.")


async def check_may_ask_role_change(ctx: AppContext, actor: Actor, user_id: UUID) -> None:
    """What refuses a role change before it is kept for a second admin: the maker is an
    admin, not changing their own role, of a user who exists (404 at once, not when
    someone approves it)."""
    _check_may_change_role(actor, user_id)
    if await users.find_by_id(ctx.pool, user_id) is None:
        raise UserNotFoundError("No user with this id.")


def _check_may_reset_two_step(actor: Actor, user_id: UUID) -> None:
    check_role(actor, "admin")
    if user_id == actor.user_id:
        raise PermissionDeniedError(
            "Turn your own two-step sign-in off in Settings, with a code from your app."
        )


async def check_may_ask_two_step_reset(ctx: AppContext, actor: Actor, user_id: UUID) -> None:
    """What refuses a reset before it is kept for a second admin: the maker is an admin,
    not asking for their own, of a user who exists (404 at once, not when someone
    approves it)."""
    _check_may_reset_two_step(actor, user_id)
    if await users.find_by_id(ctx.pool, user_id) is None:
        raise UserNotFoundError("No user with this id.")


async def reset_two_step(
    ctx: AppContext,
    sessions: SessionService,
    actor: Actor,
    user_id: UUID,
    audit: AuditRecord,
) -> None:
    """Admin only: turn off the two-step sign-in of a customer who lost their
    authenticator app, once the bank has made sure, outside this system, that it is
    them who asks (docs/adr/0902). Every session of theirs ends (the lost phone may be
    one) and they are notified. Not one's own: an admin turns theirs off in Settings,
    with a code. Off already: answered the same (a retry), audited as replayed."""
    audit = msgspec.structs.replace(audit.about_user(user_id), action=two_step.RESET_ACTION)
    try:
        _check_may_reset_two_step(actor, user_id)
        user = await users.find_by_id(ctx.pool, user_id)
        if user is None:
            raise UserNotFoundError("No user with this id.")
        was_on = user.two_step
        if was_on:
            await users.turn_two_step_off(ctx.pool, user_id)
            await sessions.revoke_all(user_id)
    except DomainError as err:
        await audit_log.write_alone(ctx.pool, audit.refused(err.code))
        raise
    await audit_log.write_alone(ctx.pool, audit.accepted() if was_on else audit.replayed())


async def find_user(ctx: AppContext, actor: Actor, email: str) -> UserRecord:
    check_role(actor, "admin")
    user = await users.find_by_email(ctx.pool, email.strip())
    if user is None:
        raise UserNotFoundError("No user with this email.")
    return user


async def search_audit_trail(
    ctx: AppContext,
    actor: Actor,
    audit: AuditRecord,
    *,
    actor_id: UUID | None,
    account_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[AuditRow]:
    """Reading the audit trail is itself audited (who looked, with which filter)."""
    filters = {
        k: str(v)
        for k, v in (("actor", actor_id), ("account", account_id), ("from", since), ("to", until))
        if v is not None
    }
    audit = msgspec.structs.replace(audit, action="read_audit_trail", details=filters)
    try:
        check_role(actor, "auditor", "admin")
    except PermissionDeniedError as err:
        await audit_log.write_alone(ctx.pool, audit.refused(err.code))
        raise
    rows = await audit_log.search(
        ctx.pool,
        actor_id=actor_id,
        account_id=account_id,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    await audit_log.write_alone(ctx.pool, audit.accepted())
    return rows


# -- the bootstrap admin --------------------------------------------------------------


def dev_admin_credentials(settings: Settings) -> tuple[str, str] | None:
    """(email, password) of the bootstrap admin, or None when it is disabled. Without a
    configured password, a dev password is generated once under data_dir/secrets."""
    if not settings.bootstrap_admin_email:
        return None
    if settings.bootstrap_admin_password:
        return settings.bootstrap_admin_email, settings.bootstrap_admin_password
    path = Path(settings.data_dir) / "secrets" / "admin_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"admin_password.{os.getpid()}.tmp")
        tmp.write_text(secrets.token_urlsafe(18))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # first writer wins, even across processes
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return settings.bootstrap_admin_email, path.read_text().strip()


async def ensure_bootstrap_admin(ctx: AppContext) -> None:
    """Create the admin from settings when no user has its email (never changes one)."""
    creds = dev_admin_credentials(ctx.settings)
    if creds is None:
        return
    email, password = creds
    if await users.find_by_email(ctx.pool, email) is not None:
        return
    user_id = uuid4()
    password_hash = await passwords.hash_password(password)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if await users.insert_user(conn, user_id, email, password_hash, "Bootstrap Admin", "admin"):
            await audit_log.write(
                conn,
                AuditRecord(
                    action="bootstrap_admin",
                    target_type="user",
                    target_id=str(user_id),
                    actor_role="system",
                    details={"email": email},
                ),
            )
