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
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec

from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult, Submission
from server.application.commands import ExpireHold, PlaceHold, PostHold, VoidHold
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
    STREAM_TYPE_ACCOUNT,
    STREAM_TYPE_TRANSFER,
    Event,
    EventMetadata,
    HoldReleased,
)
from shared.money import Money

log = logging.getLogger("bank.holds")
EXPIRY_KEY_SCOPE = "hold_expiry"
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


@decides(ExpireHold)
def expire_hold(state: State, cmd: ExpireHold) -> Decision:
    account = state.accounts.get(cmd.account_id)
    if account is None:
        raise AccountNotFoundError("No such account.")
    return _released(account, holds.expire_hold(account, hold_id=cmd.hold_id, now=cmd.now))


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


class ExpiryRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What an expiry's idempotency key is bound to (the clock is not: a re-run later
    is the same expiry)."""

    account_id: UUID
    hold_id: UUID


def expiry(account_id: UUID, hold_id: UUID, now: datetime) -> Submission:
    """The expiry of one hold, under its deterministic key ``hold_expiry / <hold id>``."""
    key = str(hold_id)
    req = ExpiryRequest(account_id=account_id, hold_id=hold_id)
    actor = Actor(user_id=SCHEDULER_ID, role="admin")
    idem = IdempotencyKey(EXPIRY_KEY_SCOPE, key, request_hash("expire_hold", req))
    metadata = EventMetadata(
        actor_id="scheduler", idempotency_key=f"hold-expiry:{key}", trace_id=uuid.uuid4().hex
    )
    audit = AuditRecord(
        action="expire_hold",
        actor_role="scheduler",
        target_type="hold",
        target_id=key,
        account_id=account_id,
        details={"now": now.isoformat()},
    )
    return Submission(ExpireHold(actor=actor, account_id=account_id, hold_id=hold_id, now=now),
                      idem, metadata, audit)  # fmt: skip


_DUE = (
    "SELECT account_id, hold_id FROM hold_view WHERE expires_at <= $1"
    " ORDER BY expires_at, hold_id LIMIT $2"
)


async def expire_due(ctx: AppContext, now: datetime, batch: int = 500) -> int:
    """Expire every pending hold whose timeout passed by ``now``, as the read model
    lists them (a hold it has not seen yet expires on a later sweep). Each expiry
    is idempotent by key; one already posted or voided is refused and left."""
    done = 0
    rows = await ctx.pool.fetch(_DUE, now, batch)
    for row in rows:
        try:
            result = await ctx.runner.run(expiry(row["account_id"], row["hold_id"], now))
        except DomainError as err:  # posted or voided meanwhile: the other one won
            log.info("hold %s not expired: %s", row["hold_id"], err.code)
            continue
        if not result.replayed:
            done += 1
    return done
