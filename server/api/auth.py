"""Sign-up, tokens and sessions.

POST   /api/v1/auth/register         create a customer (password policy applies)
POST   /api/v1/auth/token            OAuth2 grant_type=password or grant_type=refresh_token
POST   /api/v1/auth/logout           end the caller's session (its tokens stop working)
GET    /api/v1/auth/sessions         the caller's sessions
DELETE /api/v1/auth/sessions/{id}    end one of them
POST   /api/v1/auth/password-reset         forgot the password: a code by email
POST   /api/v1/auth/password-reset/confirm the code and a new password
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from server.api.body import BadRequestError, decode_body
from server.api.bootstrap import services_of
from server.api.security import audit_record, issue_access_token
from server.application import auth, password_reset
from server.application.context import Actor, AppContext
from server.application.password_policy import WeakPasswordError, check_password
from server.application.sessions import SessionService, SignedIn
from shared.api import RegisterRequest, RegisterResponse, TokenResponse, typed_emailed_code
from shared.security import (
    PasswordReset,
    PasswordResetConfirm,
    PasswordResetRequest,
    PasswordResetSent,
    SessionList,
    SessionResponse,
)


class TokenForm(msgspec.Struct, kw_only=True):
    grant_type: str = ""
    username: str = ""
    password: str = ""
    refresh_token: str = ""
    scope: str = ""
    # A code from the authenticator app, for a customer whose two-step sign-in is on.
    otp: str = ""


def _sessions(request: Request[Any, Any, Any]) -> SessionService:
    return services_of(request.app).sessions


def _require_form_body(request: Request[Any, Any, Any]) -> None:
    """RFC 6749 §4.3.2 and §6: the token endpoint takes a form body; say so plainly
    (a JSON body would otherwise read as an empty form: "unsupported grant_type")."""
    media_type = request.content_type[0]
    if media_type != RequestEncodingType.URL_ENCODED.value:
        raise BadRequestError(
            "The token endpoint takes an application/x-www-form-urlencoded body (RFC 6749),"
            f" not {media_type or 'an empty content type'}: send grant_type=password&username="
            "...&password=... or grant_type=refresh_token&refresh_token=... as a form.",
            "unsupported_media_type",
        )


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/register", operation_id="register", status_code=201)
    async def register(
        self, request: Request[Any, Any, Any], ctx: AppContext, data: RegisterRequest
    ) -> RegisterResponse:
        """Create a customer (no token needed) from ``email``, ``password`` and ``full_name``, then
        sign in at the token endpoint. The password needs 12 characters or more and must be neither
        a well-known one nor built from the email or name (400 ``weak_password``); 409
        ``email_taken`` if the email, in any case, is registered already."""
        req = await decode_body(request, RegisterRequest)
        try:
            check_password(req.password, req.email, req.full_name)
        except WeakPasswordError as exc:
            raise BadRequestError(str(exc), "weak_password") from None
        return await auth.register_user(ctx, req, audit_record(request, "register"))

    @post("/token", operation_id="issueToken", status_code=200)
    async def token(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[TokenForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[TokenResponse]:
        """OAuth 2.0 token endpoint (a form body): ``grant_type=password`` with ``username`` (the
        email) and ``password``, or ``grant_type=refresh_token`` with ``refresh_token``, which
        works once (reused, it ends its session). A customer whose two-step sign-in is on also sends
        ``otp``, the code their authenticator app shows or one of their recovery codes (each works
        once; a lost phone): without it 400 ``two_step_required`` (the
        password was right: ask for the code and send both again), a wrong or used one 400
        ``wrong_two_step_code``. 400 ``invalid_grant``; 429 ``too_many_attempts`` after repeated
        failed sign-ins (wrong codes count)."""
        _require_form_body(request)
        sessions = _sessions(request)
        audit = audit_record(request, "sign_in")
        if data.grant_type == "password":
            if not data.username or not data.password:
                raise BadRequestError("Send username (your email) and password.", "invalid_request")
            if len(data.username) > 254 or len(data.password) > 256 or len(data.otp) > 16:
                raise BadRequestError("username, password or otp is too long.", "invalid_request")
            signed_in = await sessions.sign_in(data.username, data.password, audit, data.otp)
        elif data.grant_type == "refresh_token":
            if not data.refresh_token:
                raise BadRequestError("Send the refresh_token you were given.", "invalid_request")
            signed_in = await sessions.refresh(data.refresh_token, audit)
        else:
            raise BadRequestError(
                "Unsupported grant_type; use grant_type=password with username and password,"
                " or grant_type=refresh_token with refresh_token.",
                "unsupported_grant_type",
            )
        return self._tokens(request, signed_in)

    @staticmethod
    def _tokens(request: Request[Any, Any, Any], s: SignedIn) -> Response[TokenResponse]:
        access, ttl = issue_access_token(request.app, s.user_id, s.role, s.session_id)
        body = TokenResponse(access_token=access, expires_in=ttl, refresh_token=s.refresh_token)
        # RFC 6749 §5.1: token_type is required (TokenResponse omits defaults, so it is
        # spelled out here), and token responses must not be cached. Response[TokenResponse]
        # documents the body for OpenAPI; Litestar's Response[T] typing wants a T, not its dict.
        return Response(
            msgspec.structs.asdict(body),  # type: ignore[arg-type]
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    @post("/password-reset", operation_id="requestPasswordReset", status_code=202)
    async def request_password_reset(
        self, request: Request[Any, Any, Any], data: PasswordResetRequest
    ) -> PasswordResetSent:
        """Forgot the password: a code to reset it is emailed to ``email`` when it has an
        account, valid for 30 minutes (no token needed). The answer is the same whether it
        has one or not; a second code within a minute is not sent. 429 ``too_many_attempts``
        while the client's address is locked out; 503 ``mail_unavailable`` when no email
        could be sent (nothing changed)."""
        req = await decode_body(request, PasswordResetRequest)
        await _sessions(request).request_password_reset(
            req.email, audit_record(request, password_reset.REQUEST_ACTION)
        )
        return PasswordResetSent(
            detail=password_reset.SENT_DETAIL,
            code_valid_for_seconds=password_reset.CODE_VALID_SECONDS,
        )

    @post("/password-reset/confirm", operation_id="resetPassword", status_code=200)
    async def reset_password(
        self, request: Request[Any, Any, Any], data: PasswordResetConfirm
    ) -> PasswordReset:
        """Set a new password with the code emailed to ``email`` (``ABCD-EFGH``, in any case,
        with or without the hyphen). Every session of the account ends; the customer is
        notified (``password_changed``); two-step sign-in, when on, still asks for its code.
        A wrong, used or expired code is 422 ``wrong_reset_code`` and counts towards the
        sign-in lockout (429 ``too_many_attempts``); ``new_password`` must pass the password
        policy (400 ``weak_password``, the code still works)."""
        req = await decode_body(request, PasswordResetConfirm)
        try:
            ended = await _sessions(request).reset_password(
                req.email,
                typed_emailed_code(req.code) or "",  # the body's pattern lets only codes in
                req.new_password,
                audit_record(request, password_reset.RESET_ACTION),
            )
        except WeakPasswordError as exc:
            raise BadRequestError(str(exc), "weak_password") from None
        return PasswordReset(sessions_ended=ended)

    @post("/logout", operation_id="logout", status_code=204)
    async def logout(self, request: Request[Any, Any, Any], actor: Actor) -> None:
        """End the session of the token used: its access and refresh tokens stop working (401
        ``session_revoked``)."""
        await _sessions(request).logout(actor, audit_record(request, "logout", actor))

    @get("/sessions", operation_id="listSessions")
    async def list_sessions(self, request: Request[Any, Any, Any], actor: Actor) -> SessionList:
        """Your sessions (one per sign-in), oldest first: when each began and was last used, from
        which IP address and user agent; ``current`` marks the one asking."""
        records = await _sessions(request).list_sessions(actor)
        return SessionList(
            items=[
                SessionResponse(
                    id=r.id,
                    created_at=_when(r.created_at),
                    last_used_at=_when(r.last_used_at),
                    ip=r.ip,
                    user_agent=r.user_agent,
                    current=r.id == actor.session_id,
                )
                for r in records
            ]
        )

    @delete("/sessions/{session_id:str}", operation_id="revokeSession", status_code=204)
    async def revoke_session(
        self, request: Request[Any, Any, Any], actor: Actor, session_id: str
    ) -> None:
        """End one of your sessions (sign a device out): its tokens stop working. 404
        ``session_not_found`` if you have none with this id."""
        await _sessions(request).revoke(
            actor, session_id, audit_record(request, "revoke_session", actor)
        )
