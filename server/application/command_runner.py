"""Runs one command: lock the accounts it touches, decide on fresh state, append
the events and the idempotency record in one transaction, then answer.

Auditing is kept apart from the deciding: when a command carries an
AuditRecord, the accepted or rule-rejected outcome is written in the same
transaction as the events / the stored rejection; refusals that roll back
(access denied, not found, conflicts exhausted) and idempotent replays are
written on their own by ``_audited`` around the whole run.

Writers to the same account queue on its row lock (lock order by account id),
so a hot account does not turn into a storm of optimistic retries; the
UNIQUE (stream_id, version) constraint still guards every append, and a lost
race is re-decided on fresh state a bounded number of times, then answered 409.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
import msgspec

from server.adapters import audit as audit_log
from server.adapters import event_store, idempotency
from server.adapters.audit import AuditRecord
from server.adapters.event_store import StreamAppend
from server.adapters.idempotency import IdempotencyKey, StoredResponse
from server.application.context import AppContext
from server.application.errors import (
    ConflictRetriesExhaustedError,
    IdempotencyKeyReusedError,
    rule_error_from_code,
)
from server.domain.account import Account
from server.domain.errors import BusinessRuleError, ConcurrencyError, DomainError
from server.observability import commands as observe
from shared.events import EventMetadata


@dataclass(slots=True)
class Decision:
    appends: list[StreamAppend]
    response: msgspec.Struct
    new_states: list[Account] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CommandResult:
    status_code: int
    body: bytes  # JSON of the response Struct
    replayed: bool = False


Decide = Callable[[asyncpg.Connection, dict[UUID, UUID]], Awaitable[Decision]]
_encoder = msgspec.json.Encoder()


class _KeyTakenMeanwhile(Exception):
    pass


def replay_stored(stored: StoredResponse, idem: IdempotencyKey) -> CommandResult:
    """The first answer to this key again (or the error it was, or a key-reuse error)."""
    if stored.request_hash != idem.request_hash:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used for a different request; use a new key."
        )
    if stored.status_code == idempotency.REJECTED_STATUS:
        rejected = idempotency.decode_rejection(stored.body)
        raise rule_error_from_code(rejected.code, rejected.message)
    return CommandResult(stored.status_code, stored.body, replayed=True)


async def run_command(
    ctx: AppContext,
    *,
    lock: Sequence[UUID],
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    decide: Decide,
    status_code: int = 201,
    audit: AuditRecord | None = None,
) -> CommandResult:
    if audit is None:
        run = _run(ctx, lock, idem, metadata, decide, status_code, None)
    else:
        run = _audited(ctx, audit, _run(ctx, lock, idem, metadata, decide, status_code, audit))
    # Metrics (bank_commands_total by outcome, retries) and the command's span.
    return await observe.observed(audit.action if audit else "command", run)


async def _audited(
    ctx: AppContext, audit: AuditRecord, run: Awaitable[CommandResult]
) -> CommandResult:
    """Write the audit record of an outcome that ``_run`` did not write in its transaction."""
    try:
        result = await run
    except DomainError as err:
        if not getattr(err, "audited", False):
            await audit_log.write_alone(ctx.pool, audit.refused(err.code))
        raise
    if result.replayed:
        await audit_log.write_alone(ctx.pool, audit.replayed())
    return result


async def _run(
    ctx: AppContext,
    lock: Sequence[UUID],
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    decide: Decide,
    status_code: int,
    audit: AuditRecord | None,
) -> CommandResult:
    if ctx.settings.group_commit:
        # Imported here: group_commit builds on this module (and falls back to _run_alone).
        from server.application import group_commit

        async def alone(p: group_commit.Pending) -> CommandResult:
            return await _run_alone(
                ctx, p.lock, p.idem, p.metadata, p.decide, p.status_code, p.audit
            )

        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        pending = group_commit.Pending(lock, idem, metadata, decide, status_code, audit, future)
        return await group_commit.committer(ctx, alone).submit(pending)
    return await _run_alone(ctx, lock, idem, metadata, decide, status_code, audit)


async def _run_alone(
    ctx: AppContext,
    lock: Sequence[UUID],
    idem: IdempotencyKey | None,
    metadata: EventMetadata,
    decide: Decide,
    status_code: int,
    audit: AuditRecord | None,
) -> CommandResult:
    if idem is not None:
        stored = await idempotency.find(ctx.pool, idem)
        if stored is not None:
            return replay_stored(stored, idem)

    for attempt in range(ctx.settings.command_retries):
        rejected: BusinessRuleError | None = None
        try:
            async with ctx.pool.acquire() as conn, conn.transaction():
                owners = await ctx.accounts.lock(conn, lock)
                if idem is not None:
                    # A concurrent retry with the same key may have committed while we queued.
                    stored = await idempotency.find(conn, idem)
                    if stored is not None:
                        raise _KeyTakenMeanwhile
                try:
                    decision = await decide(conn, owners)
                except BusinessRuleError as err:
                    rejected = err
                    if idem is not None:
                        body = idempotency.encode_rejection(err.code, err.message)
                        if not await idempotency.save(
                            conn, idem, idempotency.REJECTED_STATUS, body
                        ):
                            raise _KeyTakenMeanwhile from None
                    if audit is not None:
                        await audit_log.write(conn, audit.refused(err.code))
                        err.audited = True  # type: ignore[attr-defined]
                else:
                    with observe.append_span():
                        await event_store.append(conn, decision.appends, metadata)
                    body = _encoder.encode(decision.response)
                    if idem is not None and not await idempotency.save(
                        conn, idem, status_code, body
                    ):
                        raise _KeyTakenMeanwhile
                    if audit is not None:
                        await audit_log.write(conn, audit.accepted())
        except ConcurrencyError:
            observe.retried()
            for account_id in lock:
                ctx.accounts.forget(account_id)
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
            continue
        except _KeyTakenMeanwhile:
            assert idem is not None
            stored = await idempotency.find(ctx.pool, idem)
            assert stored is not None
            return replay_stored(stored, idem)
        if rejected is not None:
            raise rejected
        for state in decision.new_states:
            ctx.accounts.remember(state)
        return CommandResult(status_code, body)
    raise ConflictRetriesExhaustedError(
        "The account changed too often while this command was decided; try again."
    )
