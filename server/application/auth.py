"""Register a customer; check a password sign-in."""

from __future__ import annotations

import uuid

import msgspec

from server.adapters import audit as audit_log
from server.adapters import passwords, users
from server.adapters.audit import AuditRecord
from server.adapters.users import UserRecord
from server.application.context import AppContext
from server.application.errors import EmailTakenError, InvalidCredentialsError
from shared.api import RegisterRequest, RegisterResponse


async def register_user(
    ctx: AppContext, req: RegisterRequest, audit: AuditRecord | None = None
) -> RegisterResponse:
    user_id = uuid.uuid4()
    password_hash = await passwords.hash_password(req.password)
    email = req.email.strip()
    if audit is not None:
        audit = msgspec.structs.replace(
            audit,
            action="register",
            target_type="user",
            target_id=str(user_id),
            details={"email": email},
        )
    async with ctx.pool.acquire() as conn, conn.transaction():
        created = await users.insert_user(
            conn, user_id, email, password_hash, req.full_name.strip()
        )
        if created and audit is not None:
            await audit_log.write(
                conn,
                msgspec.structs.replace(audit, actor_id=user_id, actor_role="customer").accepted(),
            )
    if not created:
        if audit is not None:
            await audit_log.write_alone(ctx.pool, audit.refused(EmailTakenError.code))
        raise EmailTakenError("An account with this email already exists; sign in instead.")
    return RegisterResponse(user_id=user_id)


async def authenticate(ctx: AppContext, email: str, password: str) -> UserRecord:
    user = await users.find_by_email(ctx.pool, email.strip())
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        raise InvalidCredentialsError("Wrong email or password.")
    return user
