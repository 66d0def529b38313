"""Register a customer; check a password sign-in."""

from __future__ import annotations

import uuid

from server.adapters import passwords, users
from server.adapters.users import UserRecord
from server.application.context import AppContext
from server.application.errors import EmailTakenError, InvalidCredentialsError
from shared.api import RegisterRequest, RegisterResponse


async def register_user(ctx: AppContext, req: RegisterRequest) -> RegisterResponse:
    user_id = uuid.uuid4()
    password_hash = await passwords.hash_password(req.password)
    email = req.email.strip()
    if not await users.insert_user(ctx.pool, user_id, email, password_hash, req.full_name.strip()):
        raise EmailTakenError("An account with this email already exists; sign in instead.")
    return RegisterResponse(user_id=user_id)


async def authenticate(ctx: AppContext, email: str, password: str) -> UserRecord:
    user = await users.find_by_email(ctx.pool, email.strip())
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        raise InvalidCredentialsError("Wrong email or password.")
    return user
