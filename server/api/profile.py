"""GET /api/v1/me: who is signed in (the app greets the customer by name)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.exceptions import NotFoundException

from server.application.context import Actor, AppContext
from shared.security import UserResponse


class ProfileController(Controller):
    path = "/api/v1/me"
    tags = ["auth"]

    @get("/", operation_id="getProfile")
    async def me(self, ctx: AppContext, actor: Actor) -> UserResponse:
        row = await ctx.pool.fetchrow(
            "SELECT id, email, full_name, role FROM users WHERE id = $1", actor.user_id
        )
        if row is None:
            raise NotFoundException("This user no longer exists.")
        return UserResponse(
            id=row["id"], email=row["email"], full_name=row["full_name"], role=row["role"]
        )
