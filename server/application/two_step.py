"""Two-step sign-in: a customer who turns it on signs in with their password and a code
from an authenticator app (RFC 6238, ``totp``), which a stolen password alone does not
give.

Set up in two steps so that nobody is locked out by a secret their app never took:
``begin`` keeps a new secret as pending and shows it; ``confirm`` turns two-step sign-in
on once a code made from it comes back. Turning it off takes a current code, so a
session left open on a shared computer cannot weaken the account. Every code is taken
once (``users.take_step``). The secrets are sealed at rest (``secret_box``), and sealed
again under the newest key when one opens under an older one (``reseal_all``, and at
each right code).

Sign-in calls ``check_at_sign_in`` after the password was found right; the session
service counts a wrong code as a failed sign-in (lockout), as it does a wrong password.

Recovery codes: turning it on gives ten (``RECOVERY_CODES``, shown once, kept as keyed
digests), each of which is taken once wherever a code from the app is (signing in,
turning it off, new codes), for a customer whose phone is lost. A new set replaces the
old one; turning it off removes them. A sign-in with one says how many are left (the
audit row, and the customer's notification).
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple
from uuid import UUID

import asyncpg

from server.adapters import users
from server.adapters.secret_box import Opened, SecretBox, UnreadableSecretError, box_for
from server.adapters.users import UserRecord
from server.application import totp
from server.application.context import Actor, AppContext
from server.application.errors import (
    TwoStepAlreadyOnError,
    TwoStepNotOnError,
    TwoStepNotStartedError,
    TwoStepRequiredError,
    TwoStepUnavailableError,
    WrongSignInCodeError,
    WrongTwoStepCodeError,
)
from shared.api import RECOVERY_CODE_LENGTH, new_code, shown_code, typed_recovery_code
from shared.security import TwoStepSetup
from shared.words import in_fours

log = logging.getLogger("bank.api")

_WRONG_OR_USED = (
    "That code is wrong or was used already: type the one your authenticator app shows now."
)
_WRONG_RECOVERY_CODE = (
    "That recovery code is wrong or was used already: each works once. Type another of"
    " yours, or the code your authenticator app shows."
)

TURN_ON_ACTION = "turn_on_two_step"
TURN_OFF_ACTION = "turn_off_two_step"
RESET_ACTION = "reset_two_step"  # by staff, for a customer who lost their app
NEW_RECOVERY_CODES_ACTION = "new_recovery_codes"
# How many recovery codes a customer is given at a time.
RECOVERY_CODES = 10


class CodeTaken(NamedTuple):
    """A right code, taken. ``recovery_codes_left``: a recovery code was, and this
    many are left unused; None for a code from the app."""

    recovery_codes_left: int | None = None


def _box(ctx: AppContext) -> SecretBox:
    return box_for(ctx.settings.sealing_keys())


def _open(ctx: AppContext, user_id: UUID, sealed: bytes) -> Opened:
    try:
        return _box(ctx).opened(user_id, sealed)
    except UnreadableSecretError:
        log.error(
            "the two-step secret of user %s opens under no sealing key: was the signing key"
            " changed without listing the old one in BANK_SEALING_KEYS?",
            user_id,
        )
        raise TwoStepUnavailableError(
            "The bank cannot check two-step codes for this account right now; try again"
            " later or call us."
        ) from None


async def begin(ctx: AppContext, actor: Actor, email: str) -> TwoStepSetup:
    """A new secret to put in an authenticator app (replacing one not yet confirmed)."""
    secret = totp.new_secret()
    sealed = _box(ctx).seal(actor.user_id, secret)
    if not await users.set_two_step_pending(ctx.pool, actor.user_id, sealed):
        raise TwoStepAlreadyOnError(
            "Two-step sign-in is on already. To move it to another app, turn it off with a"
            " code from the app you have, then set it up again."
        )
    return TwoStepSetup(
        secret=in_fours(totp.secret_text(secret)), setup_uri=totp.setup_uri(secret, email)
    )


async def confirm(ctx: AppContext, actor: Actor, code: str) -> list[str]:
    """Turn two-step sign-in on with a code from the secret ``begin`` gave; the new
    recovery codes, as shown."""
    record = await users.two_step_of(ctx.pool, actor.user_id)
    if record.secret is not None:
        raise TwoStepAlreadyOnError("Two-step sign-in is on already.")
    if record.pending is None:
        raise TwoStepNotStartedError(
            "Set two-step sign-in up first: POST /api/v1/me/two-step gives the secret for your"
            " authenticator app."
        )
    secret = _open(ctx, actor.user_id, record.pending).secret
    step = totp.matching_step(secret, code, time.time(), None)
    if step is None:
        raise WrongTwoStepCodeError(
            "That is not the code your authenticator app shows for the bank now. Check that"
            " the phone's clock is right and type the code it shows."
        )
    codes = make_recovery_codes()
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await users.turn_two_step_on(conn, actor.user_id, record.pending, step):
            raise TwoStepNotStartedError(
                "Two-step sign-in was set up again meanwhile: use the newest secret."
            )
        await _keep_recovery_codes(ctx, conn, actor.user_id, codes)
    return [shown_code(c) for c in codes]


def make_recovery_codes() -> list[str]:
    return [new_code(RECOVERY_CODE_LENGTH) for _ in range(RECOVERY_CODES)]


async def _keep_recovery_codes(
    ctx: AppContext, conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, codes: list[str]
) -> None:
    box = _box(ctx)
    await users.replace_recovery_codes(conn, user_id, [box.digests(user_id, c)[0] for c in codes])


async def _take_code(
    ctx: AppContext, user_id: UUID, record: users.TwoStepRecord, code: str
) -> CodeTaken | None:
    """``code`` taken if it is a current code of the secret in use (``record.secret``),
    of a step after the last one taken, or an unused recovery code: it is used now, never
    again. None if it is neither. A secret sealed under an older key is sealed again
    under the current one once its code was right."""
    if (recovery := typed_recovery_code(code)) is not None:
        digests = _box(ctx).digests(user_id, recovery)
        left = await users.take_recovery_code(ctx.pool, user_id, digests)
        return None if left is None else CodeTaken(left)
    if record.secret is None:  # turned off meanwhile: no app code is right
        return None
    opened = _open(ctx, user_id, record.secret)
    step = totp.matching_step(opened.secret, code, time.time(), record.last_step)
    if step is None or not await users.take_step(ctx.pool, user_id, step):
        return None
    if opened.stale:
        resealed = _box(ctx).seal(user_id, opened.secret)
        await users.reseal_two_step(ctx.pool, user_id, "totp_secret", record.secret, resealed)
    return CodeTaken()


def _refusal(code: str) -> str:
    """Why a code was not taken, in the words for what was typed."""
    return _WRONG_RECOVERY_CODE if typed_recovery_code(code) else _WRONG_OR_USED


async def check_at_sign_in(ctx: AppContext, user: UserRecord, code: str) -> CodeTaken | None:
    """After the right password: nothing more when two-step sign-in is off (None); else
    a code is required (``TwoStepRequiredError`` when none was sent) and must be right:
    the code taken."""
    if not user.two_step:
        return None
    if not code:
        raise TwoStepRequiredError(
            "Enter the 6-digit code your authenticator app shows for the bank, or one of"
            " your recovery codes."
        )
    record = await users.two_step_of(ctx.pool, user.id)
    if record.secret is None:  # turned off since the password was checked
        return None
    taken = await _take_code(ctx, user.id, record, code)
    if taken is None:
        raise WrongSignInCodeError(_refusal(code))
    return taken


async def turn_off(ctx: AppContext, actor: Actor, code: str) -> bool:
    """Turn two-step sign-in off with a current code or a recovery code; False when it
    was off already."""
    record = await users.two_step_of(ctx.pool, actor.user_id)
    if record.secret is None:
        return False
    if await _take_code(ctx, actor.user_id, record, code) is None:
        raise WrongTwoStepCodeError(_refusal(code))
    await users.turn_two_step_off(ctx.pool, actor.user_id)
    return True


async def new_recovery_codes(ctx: AppContext, actor: Actor, code: str) -> list[str]:
    """A new set of recovery codes, for a current code or a recovery code; the earlier
    ones stop working. As shown."""
    record = await users.two_step_of(ctx.pool, actor.user_id)
    if record.secret is None:
        raise TwoStepNotOnError(
            "Two-step sign-in is off: recovery codes come with it when you turn it on."
        )
    if await _take_code(ctx, actor.user_id, record, code) is None:
        raise WrongTwoStepCodeError(_refusal(code))
    codes = make_recovery_codes()
    await _keep_recovery_codes(ctx, ctx.pool, actor.user_id, codes)
    return [shown_code(c) for c in codes]


class ResealReport(NamedTuple):
    resealed: int  # secrets (in use or pending) sealed again under the first key
    current: int  # secrets sealed under it already
    unreadable: list[UUID]  # users whose secret no key opens


async def reseal_all(pool: asyncpg.Pool, box: SecretBox) -> ResealReport:
    """Seal every two-step secret that opens under an older key again under the first,
    so that the older key can be dropped from BANK_SEALING_KEYS."""
    resealed = current = 0
    unreadable: list[UUID] = []
    for user_id, sealed, column in await users.sealed_two_step_secrets(pool):
        try:
            opened = box.opened(user_id, sealed)
        except UnreadableSecretError:
            unreadable.append(user_id)
            continue
        if not opened.stale:
            current += 1
            continue
        now = box.seal(user_id, opened.secret)
        # Not done: changed meanwhile (turned off, set up again), and sealed under the first.
        resealed += await users.reseal_two_step(pool, user_id, column, sealed, now)
    return ResealReport(resealed, current, unreadable)
