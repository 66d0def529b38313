"""Group commit: many concurrent commands decided and appended in ONE transaction.

While a group is being written, the commands that arrive wait for it (at most
``group_commit_window_ms``, or until ``group_commit_max`` are queued) and then
go together: lock every account they touch (one statement, id order), look up
their idempotency keys (one query), load the states (one query), decide each
command in arrival order on the state the commands before it left (so a hot
account takes many commands per transaction, never one), then one append of
all the events and outbox rows, one insert of the idempotency records and one
COPY of the audit records, one COMMIT.

Each command keeps its own outcome: one that breaks a rule is answered 422 and
stored alone while the others commit. When the group as a whole cannot commit
(an optimistic conflict on a stream, an idempotency key taken meanwhile, any
unexpected error), every command of it is re-run alone on the classic path,
with its own bounded retries on fresh state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import msgspec

from server.adapters import audit as audit_log
from server.adapters import event_store, idempotency
from server.adapters.audit import AuditRecord
from server.adapters.event_store import StreamAppend
from server.adapters.idempotency import IdempotencyKey, StoredResponse
from server.application.command_runner import CommandResult, Decide, replay_stored
from server.application.context import AppContext
from server.domain.account import Account
from server.domain.errors import BusinessRuleError, DomainError
from server.observability import commands as observe
from shared.events import EventMetadata

_enc = msgspec.json.Encoder()
MAX_GROUPS_IN_FLIGHT = 2

_FIND_KEYS = """
SELECT k.scope, k.key, k.request_hash, k.status_code, k.response_body
FROM idempotency_keys k JOIN unnest($1::text[], $2::text[]) AS w(scope, key)
  ON k.scope = w.scope AND k.key = w.key
"""
_SAVE_KEYS = """
INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body)
SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[], $5::bytea[])
ON CONFLICT DO NOTHING RETURNING key
"""


class _GroupFailed(Exception):
    """The group cannot commit as a whole; its commands are re-run alone."""


@dataclass(slots=True)
class Pending:
    lock: Sequence[UUID]
    idem: IdempotencyKey | None
    metadata: EventMetadata
    decide: Decide
    status_code: int
    audit: AuditRecord | None
    future: asyncio.Future[CommandResult]


RunAlone = Callable[[Pending], Awaitable[CommandResult]]
_AFTER = object()  # outcome marker: run this one alone after the group (same key twice)


class GroupCommitter:
    def __init__(self, ctx: AppContext, run_alone: RunAlone) -> None:
        self.ctx = ctx
        self.run_alone = run_alone
        self.window = ctx.settings.group_commit_window_ms / 1000
        self.max = max(1, ctx.settings.group_commit_max)
        self._queue: list[Pending] = []
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_GROUPS_IN_FLIGHT)
        self._in_flight = 0
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.groups = 0  # counters, for tests and metrics
        self.commands = 0

    async def submit(self, cmd: Pending) -> CommandResult:
        self._queue.append(cmd)
        self._arrived.set()
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._gather())
        return await cmd.future

    async def _gather(self) -> None:
        while self._queue:
            # Idle: go at once (no added latency). Busy: wait for company, up to the window.
            if self._in_flight and len(self._queue) < self.max:
                deadline = asyncio.get_running_loop().time() + self.window
                while len(self._queue) < self.max:
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        break
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), left)
                    except TimeoutError:
                        break
            await self._slots.acquire()
            group, self._queue = self._queue[: self.max], self._queue[self.max :]
            self._in_flight += 1
            task = asyncio.create_task(self._flush(group))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight -= 1
        self._slots.release()

    async def _flush(self, group: list[Pending]) -> None:
        try:
            outcomes = await self._commit(group)
        except Exception:  # noqa: BLE001 - the group as a whole failed: each goes alone
            for cmd in group:
                for account_id in cmd.lock:
                    self.ctx.accounts.forget(account_id)
            await asyncio.gather(*(self._alone(cmd) for cmd in group))
            return
        self.groups += 1
        self.commands += len(group)
        later = []
        for cmd, outcome in zip(group, outcomes):
            if outcome is _AFTER:
                later.append(cmd)
            elif cmd.future.done():
                continue  # the caller went away; its command stands, a retry replays it
            elif isinstance(outcome, BaseException):
                cmd.future.set_exception(outcome)
            else:
                cmd.future.set_result(outcome)  # type: ignore[arg-type]
        if later:
            await asyncio.gather(*(self._alone(cmd) for cmd in later))

    async def _alone(self, cmd: Pending) -> None:
        try:
            result = await self.run_alone(cmd)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            if not cmd.future.done():
                cmd.future.set_exception(exc)
            return
        if not cmd.future.done():
            cmd.future.set_result(result)

    async def _commit(self, group: list[Pending]) -> list[object]:
        ctx = self.ctx
        accounts = {a for cmd in group for a in cmd.lock}
        keyed = [cmd.idem for cmd in group if cmd.idem is not None]
        outcomes: list[object] = []
        appends: list[tuple[Sequence[StreamAppend], EventMetadata]] = []
        keys: list[tuple[IdempotencyKey, int, bytes]] = []
        audits: list[AuditRecord] = []
        changed: dict[UUID, Account] = {}
        async with ctx.pool.acquire() as conn, conn.transaction():
            owners = await ctx.accounts.lock(conn, accounts) if accounts else {}
            stored: dict[tuple[str, str], StoredResponse] = {}
            if keyed:
                for r in await conn.fetch(
                    _FIND_KEYS, [k.scope for k in keyed], [k.key for k in keyed]
                ):
                    stored[(r["scope"], r["key"])] = StoredResponse(
                        r["request_hash"], r["status_code"], r["response_body"]
                    )
            states = await ctx.accounts.get_many(conn, owners) if owners else {}
            seen: set[tuple[str, str]] = set()
            with ctx.accounts.pending(states):
                for cmd in group:
                    if cmd.idem is not None:
                        k = (cmd.idem.scope, cmd.idem.key)
                        if k in stored:
                            try:
                                outcomes.append(replay_stored(stored[k], cmd.idem))
                            except DomainError as err:
                                outcomes.append(err)
                            continue
                        if k in seen:
                            outcomes.append(_AFTER)
                            continue
                        seen.add(k)
                    mine = {a: owners[a] for a in cmd.lock if a in owners}
                    try:
                        decision = await cmd.decide(conn, mine)
                    except BusinessRuleError as err:
                        if cmd.idem is not None:
                            keys.append(
                                (
                                    cmd.idem,
                                    idempotency.REJECTED_STATUS,
                                    idempotency.encode_rejection(err.code, err.message),
                                )
                            )
                        if cmd.audit is not None:
                            audits.append(cmd.audit.refused(err.code))
                            err.audited = True  # type: ignore[attr-defined]
                        outcomes.append(err)
                        continue
                    except DomainError as err:  # refused by access control: nothing written
                        outcomes.append(err)
                        continue
                    body = _enc.encode(decision.response)
                    appends.append((decision.appends, cmd.metadata))
                    if cmd.idem is not None:
                        keys.append((cmd.idem, cmd.status_code, body))
                    if cmd.audit is not None:
                        audits.append(cmd.audit.accepted())
                    for state in decision.new_states:
                        states[state.id] = changed[state.id] = state
                    outcomes.append(CommandResult(cmd.status_code, body))
            with observe.group_append_span([m for _, m in appends]):  # spans, if tracing
                await event_store.append_each(conn, appends)
            if keys:
                saved = await conn.fetch(
                    _SAVE_KEYS,
                    [k.scope for k, _, _ in keys],
                    [k.key for k, _, _ in keys],
                    [k.request_hash for k, _, _ in keys],
                    [s for _, s, _ in keys],
                    [b for _, _, b in keys],
                )
                if len(saved) != len(keys):
                    raise _GroupFailed("an idempotency key was taken meanwhile")
            await audit_log.write_many(conn, audits)
        for state in changed.values():
            ctx.accounts.remember(state)
        return outcomes


_committers: dict[int, GroupCommitter] = {}


def committer(ctx: AppContext, run_alone: RunAlone) -> GroupCommitter:
    """The process's committer for this context (one per pool)."""
    found = _committers.get(id(ctx.pool))
    if found is None or found.ctx.pool is not ctx.pool:
        found = _committers[id(ctx.pool)] = GroupCommitter(ctx, run_alone)
    return found
