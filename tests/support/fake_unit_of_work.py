"""An in-memory unit of work: a real implementation of the application's port
(server/application/unit_of_work.py) that behaves as the PostgreSQL one does.

- ``load`` locks the accounts (one asyncio.Lock each, taken in id order, held until
  the transaction ends), so concurrent writers to one account queue as they do on
  PostgreSQL's row locks; it sees what is committed. The owners whose open accounts
  it counts are locked first the same way (PostgreSQL's advisory lock per owner).
- ``write`` checks each stream's expected version (ConcurrencyError, like UNIQUE
  (stream_id, version)) and each key (AnswerTakenError, like ON CONFLICT DO NOTHING
  inserting fewer rows); nothing is visible until the transaction commits, and an
  exception anywhere rolls everything back.
- With ``cache=True`` it keeps, as the PostgreSQL one does (AccountRepository), the
  committed states it loaded or wrote: ``known_states`` answers from them (they go
  stale when ``tables`` are changed behind its back), and ``write_and_commit``
  checks versions and keys as ``write`` does and commits at once. Without it no
  state is known, so every command takes the locked transaction.
- Faults can be injected: ``fail_writes`` (exceptions raised by the next writes, in
  order) and ``meanwhile`` (run once, right after a transaction's reads or right
  before a ``write_and_commit``: what another committer did meanwhile, e.g. store an
  answer under the same key).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from server.application.audit import AuditRecord
from server.application.decide import NewAccount
from server.application.idempotency import IdempotencyKey, StoredResponse
from server.application.unit_of_work import (
    Answer,
    AnswerTakenError,
    Changes,
    Loaded,
    Transaction,
    UnitOfWork,
)
from server.domain.account import Account
from server.domain.errors import ConcurrencyError
from shared.events import AccountClosed, AccountOpened, Event, EventMetadata


@dataclass(frozen=True, slots=True)
class StoredEvent:
    stream_id: UUID
    stream_type: str
    version: int
    event: Event
    metadata: EventMetadata


@dataclass
class Tables:
    events: list[StoredEvent] = field(default_factory=list)
    owners: dict[UUID, NewAccount] = field(default_factory=dict)
    answers: dict[tuple[str, str], StoredResponse] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)

    def stream(self, stream_id: UUID) -> list[StoredEvent]:
        return [e for e in self.events if e.stream_id == stream_id]

    def open_accounts(self, owner_id: UUID) -> int:
        """The owner's accounts with no AccountClosed (what migration 0031 counts)."""
        closed = {e.stream_id for e in self.events if isinstance(e.event, AccountClosed)}
        return sum(
            1 for a in self.owners.values() if a.owner_id == owner_id and a.account_id not in closed
        )

    def state(self, account_id: UUID) -> Account:
        events = [e.event for e in self.stream(account_id)]
        first = events[0]
        assert isinstance(first, AccountOpened)
        account = Account.opened(first)
        for event in events[1:]:
            account = account.apply(event)  # type: ignore[arg-type]
        return account


class FakeTransaction(Transaction):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.held: list[asyncio.Lock] = []
        self.loaded: dict[UUID, Account] = {}
        self.changes: Changes | None = None

    async def load(
        self,
        account_ids: Collection[UUID],
        keys: Sequence[IdempotencyKey],
        owners: Collection[UUID] = (),
    ) -> Loaded:
        tables = self.uow.tables
        for owner in sorted(set(owners)):
            lock = self.uow.owner_locks.setdefault(owner, asyncio.Lock())
            await lock.acquire()
            self.held.append(lock)
        counted = {o: tables.open_accounts(o) for o in owners}
        for account_id in sorted(set(account_ids)):
            if account_id in tables.owners:
                lock = self.uow.locks.setdefault(account_id, asyncio.Lock())
                await lock.acquire()
                self.held.append(lock)
        self.uow.loads += 1
        accounts = {a: tables.state(a) for a in account_ids if a in tables.owners}
        self.loaded = dict(accounts)
        answers = {k.ident: tables.answers[k.ident] for k in keys if k.ident in tables.answers}
        if self.uow.meanwhile is not None:  # another committer, right after our reads
            hook, self.uow.meanwhile = self.uow.meanwhile, None
            await hook(tables)
        return Loaded(accounts=accounts, answers=answers, open_accounts=counted)

    async def write(self, changes: Changes) -> None:
        self.uow.writes += 1
        self.uow.check(changes)
        self.changes = changes

    def commit(self) -> None:
        if self.changes is not None:
            self.uow.apply(self.changes)
        self.uow.remember(self.loaded.values())

    def release(self) -> None:
        for lock in self.held:
            lock.release()


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, *, cache: bool = False) -> None:
        self.tables = Tables()
        self.locks: dict[UUID, asyncio.Lock] = {}
        self.owner_locks: dict[UUID, asyncio.Lock] = {}
        self.fail_writes: list[Exception] = []
        self.meanwhile: Callable[[Tables], Awaitable[None]] | None = None
        self.cache: dict[UUID, Account] | None = {} if cache else None
        self.loads = 0
        self.writes = 0
        self.commits = 0
        self.known_lookups = 0  # known_states calls
        self.written_on_known_states = 0  # write_and_commit calls that committed

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeTransaction]:
        tx = FakeTransaction(self)
        try:
            yield tx
            tx.commit()
        except ConcurrencyError:
            if self.cache is not None:
                for account_id in tx.loaded:
                    self.cache.pop(account_id, None)
            raise
        finally:
            tx.release()

    def known_states(self, account_ids: Collection[UUID]) -> dict[UUID, Account] | None:
        self.known_lookups += 1
        if self.cache is None or any(a not in self.cache for a in account_ids):
            return None
        return {a: self.cache[a] for a in account_ids}

    async def write_and_commit(self, changes: Changes) -> None:
        if self.meanwhile is not None:  # another committer, right before our statement
            hook, self.meanwhile = self.meanwhile, None
            await hook(self.tables)
        self.writes += 1
        self.check(changes)
        self.apply(changes)
        self.written_on_known_states += 1

    def check(self, changes: Changes) -> None:
        """What UNIQUE (stream_id, version) and the keys' primary key refuse."""
        if self.fail_writes:
            raise self.fail_writes.pop(0)
        tables = self.tables
        heads: dict[UUID, int] = {}
        for append, _ in changes.appends:
            head = heads.get(append.stream_id, len(tables.stream(append.stream_id)))
            if head != append.expected_version:
                raise ConcurrencyError("another command appended to a stream first")
            heads[append.stream_id] = head + len(append.events)
        idents = [k.ident for k, _, _ in changes.answers]
        if len(set(idents)) != len(idents) or any(i in tables.answers for i in idents):
            raise AnswerTakenError("an idempotency key was answered meanwhile")

    def apply(self, changes: Changes) -> None:
        tables = self.tables
        for append, meta in changes.appends:
            for offset, event in enumerate(append.events, start=1):
                tables.events.append(
                    StoredEvent(
                        append.stream_id,
                        append.stream_type,
                        append.expected_version + offset,
                        event,
                        meta,
                    )
                )
        for opened in changes.opened:
            tables.owners[opened.account_id] = opened
        for key, status, body in changes.answers:
            tables.answers[key.ident] = StoredResponse(key.request_hash, status, body)
        tables.audit.extend(changes.audits)
        self.commits += 1
        self.remember(changes.states.values())

    def remember(self, states: Iterable[Account]) -> None:
        if self.cache is None:
            return
        for state in states:
            known = self.cache.get(state.id)
            if known is None or known.version <= state.version:
                self.cache[state.id] = state

    async def record(self, audits: Sequence[AuditRecord], answers: Sequence[Answer] = ()) -> None:
        self.tables.audit.extend(audits)
        for key, status, body in answers:  # ON CONFLICT DO NOTHING
            stored = StoredResponse(key.request_hash, status, body)
            self.tables.answers.setdefault(key.ident, stored)
