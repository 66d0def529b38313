"""The one write path: every command (alone, group-committed or in a batch) is decided
on the state its transaction locked and written through the unit of work.

A ``Plan`` says what a transaction needs (accounts to lock, idempotency keys to look
up) and decides purely on what was loaded, filling the ``Changes`` to write: events,
new account rows, answers stored under their keys, audit rows. ``CommandRunner``
runs a plan and re-runs it on fresh state when it loses a race (a stream moved on,
a key answered meanwhile), a bounded number of times, then 409.

Each run first tries the plan on the states this process already knows: decided with
no read, written in one statement that commits by itself (one round trip, no lock
held while this process decides). That holds only if no stream moved on since and
every key is new, which the statement checks (UNIQUE (stream_id, version), the key's
primary key): if not, nothing was written and the plan runs in a transaction that
locks the accounts and loads their latest states and the stored answers. So the
statement must vouch for every state the plan read and every key it was given: a
plan that appends nothing to an account it read (a refusal) or leaves a key
unanswered (an access refusal, the same key twice) takes the transaction after
all; one with a command that reads accounts it never appends to (a top-up, capped
across all the customer's accounts) takes it without deciding on known states first.

Every outcome is audited in the transaction that decided it (accepted, rejected by
a rule, denied by access control, replayed); only a command that never got a
committed transaction (conflicts exhausted) is audited on its own.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

import msgspec

from server.application.audit import AuditRecord
from server.application.commands import Command
from server.application.decide import State, decide
from server.application.errors import (
    ConflictRetriesExhaustedError,
    IdempotencyKeyReusedError,
    rule_error_from_code,
)
from server.application.idempotency import (
    REJECTED_STATUS,
    IdempotencyKey,
    StoredResponse,
    decode_rejection,
    encode_rejection,
)
from server.application.unit_of_work import AnswerTakenError, Changes, Loaded, UnitOfWork
from server.domain.account import Account
from server.domain.errors import (
    BusinessRuleError,
    ConcurrencyError,
    DomainError,
    LimitExceededError,
)
from server.observability import commands as observe
from shared.events import EventMetadata

R = TypeVar("R", covariant=True)
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class CommandResult:
    status_code: int
    body: bytes  # JSON of the response Struct
    replayed: bool = False


Outcome = CommandResult | BaseException
Span = Callable[[], AbstractContextManager[Any]]


@dataclass(frozen=True, slots=True)
class Submission:
    """A command as it was asked: under which key, with which metadata and audit record."""

    command: Command
    idem: IdempotencyKey | None
    metadata: EventMetadata
    audit: AuditRecord | None = None


class Plan(Protocol[R]):
    def accounts(self) -> set[UUID]: ...

    def keys(self) -> list[IdempotencyKey]: ...

    def owners(self) -> set[UUID]:
        """The owners whose open accounts a decision counts (Command.owners_counted)."""
        ...

    def needs_locks(self) -> bool:
        """True when some decision reads an account it never appends to: decided only
        on locked states, never on the known ones."""
        ...

    def decide(self, loaded: Loaded, max_amount: int, changes: Changes) -> R: ...


def replay_stored(stored: StoredResponse, idem: IdempotencyKey) -> CommandResult:
    """The first answer to this key again (or the error it was, or a key-reuse error)."""
    if stored.request_hash != idem.request_hash:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used for a different request; use a new key."
        )
    if stored.status_code == REJECTED_STATUS:
        rejected = decode_rejection(stored.body)
        raise rule_error_from_code(rejected.code, rejected.message, rejected.remaining_today)
    return CommandResult(stored.status_code, stored.body, replayed=True)


class GroupPlan:
    """Commands decided one after the other, each on the state the ones before it left,
    each with its own outcome (None: the same key came earlier in the group; that
    command is run again on its own once the group committed, and replays)."""

    def __init__(self, group: Sequence[Submission]) -> None:
        self.group = group

    def accounts(self) -> set[UUID]:
        return {a for s in self.group for a in s.command.accounts()}

    def keys(self) -> list[IdempotencyKey]:
        return [s.idem for s in self.group if s.idem is not None]

    def owners(self) -> set[UUID]:
        return {o for s in self.group for o in s.command.owners_counted()}

    def needs_locks(self) -> bool:
        return any(
            s.command.reads_without_appending() or s.command.owners_counted() for s in self.group
        )

    def decide(self, loaded: Loaded, max_amount: int, changes: Changes) -> list[Outcome | None]:
        accounts = dict(loaded.accounts)  # moves on with each accepted command
        counted = dict(loaded.open_accounts)  # so does each owner's count of open accounts
        seen: set[tuple[str, str]] = set()
        outcomes: list[Outcome | None] = []
        for s in self.group:
            if s.idem is not None:
                stored = loaded.answers.get(s.idem.ident)
                if stored is not None:
                    outcomes.append(_replay(s, stored, changes))
                    continue
                if s.idem.ident in seen:
                    outcomes.append(None)
                    continue
                seen.add(s.idem.ident)
            outcomes.append(_decide_one(accounts, counted, max_amount, s, changes))
        return outcomes


def _replay(s: Submission, stored: StoredResponse, changes: Changes) -> Outcome:
    assert s.idem is not None
    try:
        result = replay_stored(stored, s.idem)
    except DomainError as err:
        changes.audit(s.audit.refused(err.code) if s.audit else None)
        return err
    changes.audit(s.audit.replayed() if s.audit else None)
    return result


def _decide_one(
    accounts: dict[UUID, Account],
    counted: dict[UUID, int],
    max_amount: int,
    s: Submission,
    changes: Changes,
) -> Outcome:
    """``s`` decided on ``accounts`` and ``counted`` (owners' open accounts), which then
    move on with what it changed."""
    try:
        decision = decide(State(accounts, max_amount, counted), s.command)
    except BusinessRuleError as err:  # stored under the key: a retry gets the same refusal
        left = err.remaining_today if isinstance(err, LimitExceededError) else None
        changes.answer(s.idem, REJECTED_STATUS, encode_rejection(err.code, err.message, left))
        changes.audit(s.audit.refused(err.code) if s.audit else None)
        return err
    except DomainError as err:  # access control: nothing stored, only audited
        changes.audit(s.audit.refused(err.code) if s.audit else None)
        return err
    body = _encoder.encode(decision.response)
    changes.accept(decision, s.metadata)
    changes.answer(s.idem, s.command.status_code, body)
    changes.audit(s.audit.accepted() if s.audit else None)
    for after in decision.states:  # the next command of the group decides on these
        accounts[after.id] = after
    if decision.opened is not None:
        owner = decision.opened.owner_id
        counted[owner] = counted.get(owner, 0) + 1
    return CommandResult(s.command.status_code, body)


class CommandRunner:
    def __init__(self, uow: UnitOfWork, *, max_amount: int, retries: int) -> None:
        self.uow = uow
        self.max_amount = max_amount
        self.retries = max(1, retries)

    async def attempt(self, plan: Plan[R], span: Span = observe.append_span) -> R:
        """Run the plan once: on the known states if it can, else in one transaction
        (raises ConcurrencyError, AnswerTakenError). ``span`` traces the write: the
        command's own, or the group's in every member's trace."""
        decided = await self._on_known_states(plan, span)
        if decided is not None:
            return decided[0]
        return await self._in_transaction(plan, span)

    async def _on_known_states(self, plan: Plan[R], span: Span) -> tuple[R] | None:
        """The plan decided on this process's cached states and written in one statement;
        None when a state is not known here, a key is left unanswered or the write lost
        a race (then nothing was written)."""
        if plan.needs_locks():
            return None
        known = self.uow.known_states(plan.accounts())
        if known is None:
            return None
        changes = Changes()
        result = plan.decide(Loaded(accounts=known, answers={}), self.max_amount, changes)
        if len(changes.answers) != len(plan.keys()) or not changes.states.keys() >= known.keys():
            return None  # the statement could not vouch for every state read or key
        if not changes.is_empty():
            try:
                with span():
                    await self.uow.write_and_commit(changes)
            except (ConcurrencyError, AnswerTakenError):
                observe.retried()
                return None
        return (result,)

    async def _in_transaction(self, plan: Plan[R], span: Span) -> R:
        changes = Changes()
        async with self.uow.transaction() as tx:
            loaded = await tx.load(plan.accounts(), plan.keys(), plan.owners())
            result = plan.decide(loaded, self.max_amount, changes)
            if not changes.is_empty():
                with span():
                    await tx.write(changes)
        return result

    async def retrying(self, plan: Plan[R], span: Span = observe.append_span) -> R:
        """Run the plan, on fresh state after each lost race, at most ``retries`` times."""
        for attempt in range(self.retries):
            try:
                return await self.attempt(plan, span)
            except ConcurrencyError:
                observe.retried()
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
            except AnswerTakenError:
                continue  # the next attempt loads the stored answer and replays it
        raise ConflictRetriesExhaustedError(
            "The account changed too often while this command was decided; try again."
        )

    async def run(self, s: Submission, span: Span = observe.append_span) -> CommandResult:
        """One command in a transaction of its own."""
        try:
            [outcome] = await self.retrying(GroupPlan([s]), span)
        except ConflictRetriesExhaustedError as err:
            if s.audit is not None:
                await self.uow.record([s.audit.refused(err.code)])
            raise
        assert outcome is not None  # a group of one has no earlier twin
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def run_group(self, group: Sequence[Submission]) -> list[Outcome]:
        """Many commands in one transaction; if it cannot commit as a whole (a lost race,
        a key answered meanwhile, any error), each command is run again on its own."""

        # Run by the committer's task, not the callers': the group's span goes into
        # each member's trace.
        def span() -> AbstractContextManager[Any]:
            return observe.group_append_span([s.metadata for s in group])

        if len(group) == 1:
            return [await _outcome(self.run(group[0], span))]
        try:
            outcomes = await self.attempt(GroupPlan(group), span)
        except Exception:  # noqa: BLE001 - the group as a whole failed: each goes alone
            return list(await asyncio.gather(*(self._alone_in_group(s) for s in group)))
        # The same key twice in one group: the later ones replay what the first stored.
        later = [i for i, o in enumerate(outcomes) if o is None]
        again = await asyncio.gather(*(self._alone_in_group(group[i]) for i in later))
        for i, o in zip(later, again, strict=True):
            outcomes[i] = o
        return [o for o in outcomes if o is not None]

    async def _alone_in_group(self, s: Submission) -> Outcome:
        def span() -> AbstractContextManager[Any]:
            return observe.group_append_span([s.metadata])

        return await _outcome(self.run(s, span))


async def _outcome(run: Any) -> Outcome:
    try:
        result: CommandResult = await run
    except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
        return exc
    return result
