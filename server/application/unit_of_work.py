"""The port every command is written through, two ways.

On the states this process already knows (its cache of committed account states),
decided with no read at all and written in ONE statement that commits by itself:

    known = uow.known_states(account_ids)          # None: some account is not known here
    ...decide, purely, on ``known``...
    await uow.write_and_commit(changes)            # all or nothing; a stream that moved on
                                                   # or a key already answered: nothing written

Otherwise, or when that write lost a race, in a transaction that locks and loads:

    async with uow.transaction() as tx:
        loaded = await tx.load(account_ids, keys, owners)
                                                    # lock owners' openings and accounts
                                                    # (id order); states, answers, and
                                                    # the owners' open accounts counted
        ...decide, purely...
        await tx.write(changes)                     # events, account rows, answers, audit rows
    # leaving the block commits; an exception rolls everything back

Implementations: server/adapters/postgres/unit_of_work.py (PostgreSQL) and the
in-memory fake of the unit tests (tests/unit/fakes.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from server.application.audit import AuditRecord
from server.application.decide import Decision, NewAccount, StreamAppend
from server.application.idempotency import IdempotencyKey, StoredResponse
from server.domain.account import Account
from shared.events import EventMetadata

Answer = tuple[IdempotencyKey, int, bytes]  # a key, the status and body answered under it


class AnswerTakenError(Exception):
    """An idempotency key was answered by a concurrent command while this transaction
    decided it: the transaction rolls back and the stored answer is replayed."""


@dataclass(frozen=True, slots=True)
class Loaded:
    accounts: dict[UUID, Account]  # the asked-for accounts that exist, now locked
    answers: dict[tuple[str, str], StoredResponse]  # stored answers by (scope, key)
    # the asked-for owners' accounts that are not closed, counted once their openings
    # were locked (until this transaction ends)
    open_accounts: dict[UUID, int] = field(default_factory=dict)


@dataclass(slots=True)
class Changes:
    """Everything one transaction writes (in one round trip)."""

    appends: list[tuple[StreamAppend, EventMetadata]] = field(default_factory=list)
    opened: list[NewAccount] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    audits: list[AuditRecord] = field(default_factory=list)
    states: dict[UUID, Account] = field(default_factory=dict)  # to cache once committed

    def accept(self, decision: Decision, metadata: EventMetadata) -> None:
        self.appends.extend((a, metadata) for a in decision.appends)
        if decision.opened is not None:
            self.opened.append(decision.opened)
        for state in decision.states:
            self.states[state.id] = state

    def answer(self, key: IdempotencyKey | None, status: int, body: bytes) -> None:
        if key is not None:
            self.answers.append((key, status, body))

    def audit(self, record: AuditRecord | None) -> None:
        if record is not None:
            self.audits.append(record)

    def is_empty(self) -> bool:
        return not (self.appends or self.opened or self.answers or self.audits)


class Transaction(Protocol):
    async def load(
        self,
        account_ids: Collection[UUID],
        keys: Sequence[IdempotencyKey],
        owners: Collection[UUID] = (),
    ) -> Loaded: ...

    async def write(self, changes: Changes) -> None:
        """Raises ConcurrencyError (a stream moved on) or AnswerTakenError."""
        ...


class UnitOfWork(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    def known_states(self, account_ids: Collection[UUID]) -> dict[UUID, Account] | None:
        """The last committed state this process saw of each account, or None when any of
        them is not known here. A state may be stale (another process wrote since): the
        version check of ``write_and_commit`` finds that out."""
        ...

    async def write_and_commit(self, changes: Changes) -> None:
        """Write and commit in one statement, as ``Transaction.write`` writes, except that
        every answer must be new. Raises ConcurrencyError (a stream is no longer at the
        version it was decided on) or AnswerTakenError (a key was answered before);
        either way nothing was written."""
        ...

    async def record(self, audits: Sequence[AuditRecord], answers: Sequence[Answer] = ()) -> None:
        """Audit rows on their own, for outcomes whose transaction never committed, and
        answers kept outside a command's transaction (an approval request's 202); an
        answer already stored under its key is kept."""
        ...
