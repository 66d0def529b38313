"""POST /api/v1/auth/register, POST /api/v1/auth/token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from server.api.body import BadRequestError, decode_body
from server.application import auth
from server.application.context import AppContext
from shared.api import RegisterRequest, RegisterResponse, TokenResponse

MIN_PASSWORD_LENGTH = 12


class TokenForm(msgspec.Struct, kw_only=True):
    grant_type: str = ""
    username: str = ""
    password: str = ""
    refresh_token: str = ""
    scope: str = ""


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/register", operation_id="register", status_code=201)
    async def register(
        self, request: Request[Any, Any, Any], ctx: AppContext, data: RegisterRequest
    ) -> RegisterResponse:
        req = await decode_body(request, RegisterRequest)
        if len(req.password) < MIN_PASSWORD_LENGTH:
            raise BadRequestError(
                f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters"
                " (a few words strung together work well).",
                "weak_password",
            )
        return await auth.register_user(ctx, req)

    @post("/token", operation_id="issueToken", status_code=200)
    async def token(
        self,
        request: Request[Any, Any, Any],
        ctx: AppContext,
        data: Annotated[TokenForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> TokenResponse:
        if data.grant_type != "password":
            raise BadRequestError(
                "Unsupported grant_type; use grant_type=password with username and password.",
                "unsupported_grant_type",
            )
        if not data.username or not data.password:
            raise BadRequestError("Send username (your email) and password.", "invalid_request")
        user = await auth.authenticate(ctx, data.username, data.password)
        jwt = request.app.state.jwt_auth
        ttl = ctx.settings.access_token_ttl_seconds
        access = jwt.create_token(
            identifier=str(user.id),
            token_expiration=timedelta(seconds=ttl),
            token_extras={"role": user.role},
        )
        return TokenResponse(access_token=access, expires_in=ttl)
