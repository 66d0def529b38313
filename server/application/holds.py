"""Holds (issue #17 item 2): place, post, void and expire, through the one write path.

The commands are in commands.py; their pure decisions are registered here with
decide.py's ``@decides`` and the rules are the aggregate's (server/domain/holds.py).
Who may: whoever may debit the account (its owner, a teller); the expiry is the
scheduler's (``expire_due``), under the idempotency key ``hold_expiry / <hold id>``,
so it happens once whatever restarts, and a post racing it is refused
(``hold_not_pending`` or ``hold_expired``) whichever comes second.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult, Submission
from server.application.commands import (
    ExpireHold,
    HoldSweep,
    PlaceHold,
    PostHold,
    VoidHold,
    VoidHoldIntoClosedAccount,
)
from server.application.context import AppContext
from server.application.decide import Decision, State, StreamAppend, account_for, decides
from server.application.errors import DestinationNotFoundError
from server.application.handlers import execute
from server.application.idempotency import IdempotencyKey, request_hash
from server.domain import holds
from server.domain.account import Account
from server.domain.errors import AccountNotFoundError, ConcurrencyError, DomainError
from shared.api import HoldResponse, HoldStatus, PlaceHoldRequest, PostHoldRequest
from shared.events import (
    DESTINATION_CLOSED_VOID,
    STREAM_TYPE_ACCOUNT,
    STREAM_TYPE_TRANSFER,
    Event,
    EventMetadata,
    HoldReleased,
)
from shared.money import Money

log = logging.getLogger("bank.holds")
EXPIRY_KEY_SCOPE = "hold_expiry"
DESTINATION_CLOSED_KEY_SCOPE = "hold_destination_closed"
# The scheduler's actor: no one signed in; the audit row says "scheduler".
SCHEDULER_ID = uuid.UUID(int=0)


def _answer(
    before: Account,
    after: Account,
    hold: holds.PendingHold,
    status: HoldStatus,
    posted: int | None = None,
) -> HoldResponse:
    def money(amount: int) -> Money:
        return Money(amount=amount, currency=before.currency)

    return HoldResponse(
        hold_id=hold.hold_id,
        account_id=before.id,
        status=status,
        amount=money(hold.amount),
        expires_at=hold.expires_at,
        balance=money(after.balance),
        available_balance=money(after.available),
        version=after.version,
        posted_amount=money(posted) if posted is not None else None,
        to_account_id=hold.to_account_id,
        description=hold.description,
    )


@decides(PlaceHold)
def place_hold(state: State, cmd: PlaceHold) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "withdraw")
    destination = None
    if cmd.to_account_id is not None:
        destination = state.accounts.get(cmd.to_account_id)
        if destination is None:
            raise DestinationNotFoundError("The destination account does not exist.")
    event = holds.hold_funds(
        account,
        hold_id=cmd.hold_id,
        amount=cmd.amount,
        currency=cmd.currency or account.currency,
        description=cmd.description,
        expires_at=cmd.expires_at,
        now=cmd.placed_at,
        limit=state.max_amount,
        destination=destination,
        booked_on=cmd.booked_on,
    )
    after = account.apply(event)
    return Decision(
        appends=(StreamAppend(account.id, STREAM_TYPE_ACCOUNT, account.version, (event,)),),
        response=_answer(account, after, holds.PendingHold.placed(event), "pending"),
        states=(after,),
    )


@decides(PostHold)
def post_hold(state: State, cmd: PostHold) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "withdraw")
    hold = account.pending_hold(cmd.hold_id)
    destination = None
    if hold.to_account_id is not None:
        destination = state.accounts.get(hold.to_account_id)
        if destination is None and cmd.to_account_id != hold.to_account_id:
            # The hold was placed after the post read it (sent before its answer came):
            # its destination is not locked. Not a rule: not stored under the key.
            raise ConcurrencyError("The hold was placed while this post was read; try again.")
        if destination is None:
            raise DestinationNotFoundError("The hold's destination account does not exist.")
    posting = holds.post_hold(
        account, hold_id=cmd.hold_id, amount=cmd.amount, now=cmd.posted_at, destination=destination
    )
    after = account.apply(posting.released).apply(posting.debit)
    source_events: tuple[Event, ...] = (posting.released, posting.debit)
    appends = [StreamAppend(account.id, STREAM_TYPE_ACCOUNT, account.version, source_events)]
    states = [after]
    if destination is not None and posting.credit is not None and posting.completed is not None:
        appends.append(
            StreamAppend(
                destination.id, STREAM_TYPE_ACCOUNT, destination.version, (posting.credit,)
            )
        )
        appends.append(StreamAppend(hold.hold_id, STREAM_TYPE_TRANSFER, 0, (posting.completed,)))
        states.append(destination.apply(posting.credit))
    return Decision(
        appends=tuple(appends),
        response=_answer(account, after, hold, "posted", posting.debit.amount),
        states=tuple(states),
    )


def _released(account: Account, event: HoldReleased) -> Decision:
    hold = account.pending_hold(event.hold_id)
    after = account.apply(event)
    return Decision(
        appends=(StreamAppend(account.id, STREAM_TYPE_ACCOUNT, account.version, (event,)),),
        response=_answer(account, after, hold, event.reason),
        states=(after,),
    )


@decides(VoidHold)
def void_hold(state: State, cmd: VoidHold) -> Decision:
    account = account_for(state, cmd.actor, cmd.account_id, "withdraw")
    return _released(account, holds.void_hold(account, hold_id=cmd.hold_id, now=cmd.voided_at))


def _swept_account(state: State, cmd: HoldSweep) -> Account:
    """The scheduler's commands act for the bank: no access check."""
    account = state.accounts.get(cmd.account_id)
    if account is None:
        raise AccountNotFoundError("No such account.")
    return account


@decides(ExpireHold)
def expire_hold(state: State, cmd: ExpireHold) -> Decision:
    account = _swept_account(state, cmd)
    return _released(account, holds.expire_hold(account, hold_id=cmd.hold_id, now=cmd.now))


@decides(VoidHoldIntoClosedAccount)
def void_hold_into_closed_account(state: State, cmd: VoidHoldIntoClosedAccount) -> Decision:
    account = _swept_account(state, cmd)
    return _released(account, holds.void_hold(account, hold_id=cmd.hold_id, now=cmd.now))


# --- entry points (the REST controllers call these) ------------------------------


def hold_timeout(ctx: AppContext, req: PlaceHoldRequest) -> int:
    seconds = req.expires_in_seconds or ctx.settings.hold_default_timeout_seconds
    holds.check_timeout(seconds, ctx.settings.hold_max_timeout_seconds)
    return seconds


async def place_hold_command(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    req: PlaceHoldRequest,
    to_account_id: UUID | None,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    now = datetime.now(UTC)
    try:
        seconds = hold_timeout(ctx, req)
    except DomainError as err:  # refused before deciding: audited all the same
        if audit is not None:
            await ctx.uow.record([audit.refused(err.code)])
        raise
    command = PlaceHold(
        actor=actor,
        account_id=account_id,
        hold_id=uuid.uuid4(),
        amount=req.amount,
        currency=req.currency,
        description=req.description,
        to_account_id=to_account_id,
        placed_at=now,
        expires_at=now + timedelta(seconds=seconds),
        booked_on=now.date(),
    )
    return await execute(ctx, command, idem, metadata, audit)


async def hold_destination(ctx: AppContext, account_id: UUID, hold_id: UUID) -> UUID | None:
    """The pending hold's destination account (immutable), to lock it with the post."""
    async with ctx.pool.acquire() as conn:
        account = await ctx.accounts.get(conn, account_id)
    hold = account.find_hold(hold_id) if account is not None else None
    return hold.to_account_id if hold is not None else None


async def post_hold_command(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    hold_id: UUID,
    req: PostHoldRequest,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    command = PostHold(
        actor=actor,
        account_id=account_id,
        hold_id=hold_id,
        amount=req.amount,
        posted_at=datetime.now(UTC),
        to_account_id=await hold_destination(ctx, account_id, hold_id),
    )
    return await execute(ctx, command, idem, metadata, audit)


async def void_hold_command(
    ctx: AppContext,
    actor: Actor,
    account_id: UUID,
    hold_id: UUID,
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> CommandResult:
    command = VoidHold(
        actor=actor, account_id=account_id, hold_id=hold_id, voided_at=datetime.now(UTC)
    )
    return await execute(ctx, command, idem, metadata, audit)


# --- the scheduler's side ---------------------------------------------------------


class SweptHold(msgspec.Struct, frozen=True, kw_only=True):
    """What the scheduler's key for one hold (its expiry, or its void once its
    destination closed) is bound to; the clock is not: a re-run later is the same."""

    account_id: UUID
    hold_id: UUID


SCHEDULER = Actor(user_id=SCHEDULER_ID, role="admin")


def _by_the_scheduler(cmd: HoldSweep, scope: str, label: str, **details: str) -> Submission:
    """``cmd`` under its deterministic key ``<scope> / <hold id>``, audited as the
    scheduler's."""
    key = str(cmd.hold_id)
    req = SweptHold(account_id=cmd.account_id, hold_id=cmd.hold_id)
    idem = IdempotencyKey(scope, key, request_hash(cmd.action, req))
    metadata = EventMetadata.by_the_scheduler(label, key, trace_id=uuid.uuid4().hex)
    audit = AuditRecord(
        action=cmd.action,
        actor_role="scheduler",
        target_type="hold",
        target_id=key,
        account_id=cmd.account_id,
        details={**details, "now": cmd.now.isoformat()},
    )
    return Submission(cmd, idem, metadata, audit)


def expiry(account_id: UUID, hold_id: UUID, now: datetime) -> Submission:
    """The expiry of one hold, under the key ``hold_expiry / <hold id>``."""
    cmd = ExpireHold(actor=SCHEDULER, account_id=account_id, hold_id=hold_id, now=now)
    return _by_the_scheduler(cmd, EXPIRY_KEY_SCOPE, "hold-expiry")


def void_into_closed(account_id: UUID, hold_id: UUID, now: datetime) -> Submission:
    """The void of one pending transfer into a closed account, under the key
    ``hold_destination_closed / <hold id>``."""
    cmd = VoidHoldIntoClosedAccount(
        actor=SCHEDULER, account_id=account_id, hold_id=hold_id, now=now
    )
    return _by_the_scheduler(
        cmd, DESTINATION_CLOSED_KEY_SCOPE, DESTINATION_CLOSED_VOID, because="destination_closed"
    )


async def _sweep(
    ctx: AppContext,
    rows: Iterable[Mapping[str, Any]],
    submission: Callable[[UUID, UUID], Submission],
) -> int:
    """Run each row's submission; how many changed something (not replays). One refused
    (posted, voided or expired meanwhile: another release won) is left."""
    done = 0
    for row in rows:
        try:
            result = await ctx.runner.run(submission(row["account_id"], row["hold_id"]))
        except DomainError as err:
            log.info("hold %s left: %s", row["hold_id"], err.code)
            continue
        if not result.replayed:
            done += 1
    return done


_DUE = (
    "SELECT account_id, hold_id FROM hold_view WHERE expires_at <= $1"
    " ORDER BY expires_at, hold_id LIMIT $2"
)


async def expire_due(ctx: AppContext, now: datetime, batch: int = 500) -> int:
    """Expire every pending hold whose timeout passed by ``now``, as the read model
    lists them (a hold it has not seen yet expires on a later sweep)."""
    rows = await ctx.pool.fetch(_DUE, now, batch)
    return await _sweep(ctx, rows, lambda account, hold: expiry(account, hold, now))


# Pending transfers whose destination is closed, as the read models list them (a
# closing is final: an account never opens again). From the partial index on the
# holds' destinations (migration 0026), then each destination by its key.
_INTO_CLOSED = (
    "SELECT h.account_id, h.hold_id FROM hold_view h"
    " JOIN account_view a ON a.account_id = h.to_account_id"
    " WHERE h.to_account_id IS NOT NULL AND a.status = 'closed'"
    " ORDER BY h.hold_id LIMIT $1"
)


async def void_into_closed_due(ctx: AppContext, now: datetime, batch: int = 500) -> int:
    """Void every pending transfer into an account that has been closed since it was
    placed: posting it is refused for good, and the payer's amount would stay held
    until the payer voids it or it expires (7 days by default). One past its timeout
    is refused here and released by the expiry."""
    rows = await ctx.pool.fetch(_INTO_CLOSED, batch)
    return await _sweep(ctx, rows, lambda account, hold: void_into_closed(account, hold, now))
