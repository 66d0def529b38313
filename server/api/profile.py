"""GET /api/v1/me: who is signed in (the app greets the customer by name);
POST /api/v1/me/password: change one's password (every other session ends);
POST /api/v1/me/email, .../confirm: move the account to a new email address, shown to
receive mail by a code sent there;
POST /api/v1/me/two-step, .../confirm, .../off, .../recovery-codes: two-step sign-in with an
authenticator app, and the recovery codes for a lost one."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException

from server.adapters import email_changes, users
from server.api.body import BadRequestError, decode_body
from server.api.bootstrap import services_of
from server.api.security import audit_record
from server.application import email_change, funding_handlers, two_step
from server.application.context import Actor, AppContext
from server.application.password_policy import WeakPasswordError
from shared.api import typed_emailed_code
from shared.security import (
    ChangeEmailRequest,
    ChangePasswordRequest,
    ConfirmEmailChange,
    EmailChanged,
    EmailChangeStarted,
    PasswordChanged,
    ProfileResponse,
    RecoveryCodes,
    TwoStepCodeRequest,
    TwoStepSetup,
    TwoStepState,
)


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
            two_step=user.two_step,
            recovery_codes_left=(
                await users.recovery_codes_left(ctx.pool, user.id) if user.two_step else 0
            ),
            email_change_pending_to=await email_changes.pending_to(ctx.pool, user.id),
        )

    @post("/email", operation_id="startEmailChange", status_code=202)
    async def start_email_change(
        self, request: Request[Any, Any, Any], actor: Actor, data: ChangeEmailRequest
    ) -> EmailChangeStarted:
        """Move your account to ``new_email``: given your ``password``, a code is emailed to the
        new address, valid for 30 minutes; nothing changes until it comes back at
        ``/me/email/confirm``. Asking again replaces the request (a second code within a minute
        is 429 ``too_many_attempts``). A wrong password is 400 ``wrong_password`` and counts
        towards the sign-in lockout; 400 ``same_email`` for the address you have; 409
        ``email_taken`` when another account has it; 503 ``mail_unavailable`` when no email
        could be sent (nothing changed)."""
        req = await decode_body(request, ChangeEmailRequest)
        sessions = services_of(request.app).sessions
        audit = audit_record(request, email_change.REQUEST_ACTION, actor)
        sent_to = await sessions.start_email_change(actor, req.new_email, req.password, audit)
        return EmailChangeStarted(
            sent_to=sent_to,
            detail=email_change.SENT_DETAIL,
            code_valid_for_seconds=email_change.CODE_VALID_SECONDS,
        )

    @post("/email/confirm", operation_id="confirmEmailChange", status_code=200)
    async def confirm_email_change(
        self, request: Request[Any, Any, Any], actor: Actor, data: ConfirmEmailChange
    ) -> EmailChanged:
        """Make the change with the ``code`` emailed to the new address (``ABCD-EFGH``, in any
        case, with or without the hyphen): you sign in with the new address from now on, the
        old one is emailed a notice, and you are notified (``email_changed``); your sessions
        stay. A wrong, used or expired code is 422 ``wrong_email_code`` and counts towards
        the sign-in lockout (429 ``too_many_attempts``); 409 ``email_taken`` when another
        account took the address meanwhile (the request is void)."""
        req = await decode_body(request, ConfirmEmailChange)
        sessions = services_of(request.app).sessions
        audit = audit_record(request, email_change.CHANGE_ACTION, actor)
        email = await sessions.confirm_email_change(
            actor,
            typed_emailed_code(req.code) or "",  # the body's pattern lets only codes in
            audit,
        )
        return EmailChanged(email=email)

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

    @post("/two-step", operation_id="setUpTwoStep", status_code=200)
    async def set_up_two_step(self, ctx: AppContext, actor: Actor) -> TwoStepSetup:
        """Start two-step sign-in: a new ``secret`` for your authenticator app (type it in, or
        open ``setup_uri``). Nothing changes until a code from it is confirmed at
        ``/me/two-step/confirm``; asking again replaces a secret not yet confirmed. 409
        ``two_step_already_on`` when it is on."""
        user = await users.find_by_id(ctx.pool, actor.user_id)
        if user is None:
            raise NotFoundException("This user no longer exists.")
        return await two_step.begin(ctx, actor, user.email)

    @post("/two-step/confirm", operation_id="confirmTwoStep", status_code=200)
    async def confirm_two_step(
        self, request: Request[Any, Any, Any], actor: Actor, data: TwoStepCodeRequest
    ) -> TwoStepState:
        """Turn two-step sign-in on with ``code``, the 6 digits your authenticator app shows for
        the secret just set up: from then on signing in takes your password and a code. The
        answer has your ``recovery_codes``: ten codes, each of which works once instead of a
        code from the app (a lost phone); keep them safe, they are not shown again. 422
        ``wrong_two_step_code``; 409 ``two_step_not_started`` (set it up first) or
        ``two_step_already_on``."""
        req = await decode_body(request, TwoStepCodeRequest)
        sessions = services_of(request.app).sessions
        audit = audit_record(request, two_step.TURN_ON_ACTION, actor)
        codes = await sessions.confirm_two_step(actor, req.code, audit)
        return TwoStepState(two_step=True, recovery_codes=codes)

    @post("/two-step/recovery-codes", operation_id="newRecoveryCodes", status_code=200)
    async def new_recovery_codes(
        self, request: Request[Any, Any, Any], actor: Actor, data: TwoStepCodeRequest
    ) -> RecoveryCodes:
        """Ten new recovery codes for a current ``code`` from your authenticator app (or one
        of your recovery codes); the earlier ones stop working. Shown this once. A wrong code
        is 422 ``wrong_two_step_code`` and counts towards the sign-in lockout (429
        ``too_many_attempts``); 409 ``two_step_not_on`` while two-step sign-in is off."""
        req = await decode_body(request, TwoStepCodeRequest)
        sessions = services_of(request.app).sessions
        audit = audit_record(request, two_step.NEW_RECOVERY_CODES_ACTION, actor)
        return RecoveryCodes(
            recovery_codes=await sessions.new_recovery_codes(actor, req.code, audit)
        )

    @post("/two-step/off", operation_id="turnOffTwoStep", status_code=200)
    async def turn_off_two_step(
        self, request: Request[Any, Any, Any], actor: Actor, data: TwoStepCodeRequest
    ) -> TwoStepState:
        """Turn two-step sign-in off with a current ``code`` from your authenticator app or one of
        your recovery codes (off already: the same answer). A wrong code is 422
        ``wrong_two_step_code`` and counts towards the sign-in lockout (429
        ``too_many_attempts``)."""
        req = await decode_body(request, TwoStepCodeRequest)
        sessions = services_of(request.app).sessions
        audit = audit_record(request, two_step.TURN_OFF_ACTION, actor)
        await sessions.turn_two_step_off(actor, req.code, audit)
        return TwoStepState(two_step=False)
