"""GET /api/v1/me: who is signed in (the app greets the customer by name);
POST /api/v1/me/password: change one's password (every other session ends)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException

from server.adapters import users
from server.api.body import BadRequestError, decode_body
from server.api.bootstrap import services_of
from server.api.security import audit_record
from server.application import funding_handlers
from server.application.context import Actor, AppContext
from server.application.password_policy import WeakPasswordError
from shared.security import ChangePasswordRequest, PasswordChanged, ProfileResponse


class ProfileController(Controller):
    path = "/api/v1/me"
    tags = ["auth"]

    @get("/", operation_id="getProfile")
    async def me(self, ctx: AppContext, actor: Actor) -> ProfileResponse:
        """Who is signed in: your id, email, full name and role, and ``can_deposit``: whether
        ``POST /accounts/{id}/deposits`` is open to you (a customer's deposit is a development
        top-up, which a bank in production does not offer: 403 ``top_ups_disabled``)."""
        user = await users.find_by_id(ctx.pool, actor.user_id)
        if user is None:
            raise NotFoundException("This user no longer exists.")
        return ProfileResponse(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            can_deposit=funding_handlers.deposits_open_to(ctx, actor),
        )

    @post("/password", operation_id="changePassword", status_code=200)
    async def change_password(
        self, request: Request[Any, Any, Any], actor: Actor, data: ChangePasswordRequest
    ) -> PasswordChanged:
        """Change your password: a wrong ``current_password`` is 400 ``wrong_password`` and counts
        towards the sign-in lockout (429 ``too_many_attempts``); ``new_password`` must pass the
        password policy (400 ``weak_password``). Your other sessions end, this one stays; you are
        notified (``password_changed``)."""
        req = await decode_body(request, ChangePasswordRequest)
        sessions = services_of(request.app).sessions
        audit = audit_record(request, "change_password", actor)
        try:
            ended = await sessions.change_password(
                actor, req.current_password, req.new_password, audit
            )
        except WeakPasswordError as exc:
            raise BadRequestError(str(exc), "weak_password") from None
        return PasswordChanged(other_sessions_ended=ended)
