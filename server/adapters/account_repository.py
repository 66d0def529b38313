"""Loads Account aggregates from the event store, with a bounded in-process cache.

The cache keeps each account's state at a known stream version; a load reads
only the events after it (one indexed query), so a command never re-reads a
long stream. The cache is updated only after a commit, so a rolled-back
decision never leaks into it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from uuid import UUID

import asyncpg

from server.adapters import event_store
from server.domain.account import Account
from shared.events import AccountOpened

# States decided but not yet committed, seen by ``get`` in this task only (group commit).
_pending: ContextVar[dict[UUID, Account] | None] = ContextVar("pending_accounts", default=None)


class AccountRepository:
    def __init__(self, max_cached: int = 50_000) -> None:
        self._cache: OrderedDict[UUID, Account] = OrderedDict()
        self._max = max_cached

    async def lock(self, conn: asyncpg.Connection, account_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        """Lock the accounts for this transaction, in id order (no deadlocks);
        return owner by account id for those that exist."""
        rows = await conn.fetch(
            "SELECT account_id, owner_id FROM account_owners WHERE account_id = ANY($1::uuid[])"
            " ORDER BY account_id FOR UPDATE",
            sorted(set(account_ids)),
        )
        return {r["account_id"]: r["owner_id"] for r in rows}

    @contextmanager
    def pending(self, states: dict[UUID, Account]) -> Iterator[None]:
        """Within this block (and task), ``get`` answers from ``states`` first: the state
        that earlier commands of the same transaction left, not yet in the database."""
        token = _pending.set(states)
        try:
            yield
        finally:
            _pending.reset(token)

    async def get(self, conn: asyncpg.Connection, account_id: UUID) -> Account | None:
        pending = _pending.get()
        if pending is not None and account_id in pending:
            return pending[account_id]
        cached = self._cache.get(account_id)
        after = cached.version if cached else 0
        events = await event_store.read_stream(conn, account_id, after)
        if cached is None:
            if not events:
                return None
            first = events[0]
            assert isinstance(first, AccountOpened)  # guaranteed by the write side
            account = Account.opened(first)
            events = events[1:]
        else:
            account = cached
        for event in events:
            account = account.apply(event)  # type: ignore[arg-type]
        return account

    async def get_many(
        self, conn: asyncpg.Connection, account_ids: Iterable[UUID]
    ) -> dict[UUID, Account]:
        """Like ``get`` for many accounts with one query (batch commands)."""
        ids = list(set(account_ids))
        cached = [self._cache.get(a) for a in ids]
        rows = await conn.fetch(
            "SELECT e.stream_id, e.payload FROM unnest($1::uuid[], $2::int[]) AS c(id, after)"
            " JOIN events e ON e.stream_id = c.id AND e.version > c.after"
            " ORDER BY e.stream_id, e.version",
            ids,
            [c.version if c else 0 for c in cached],
        )
        found = {a: c for a, c in zip(ids, cached) if c is not None}
        for r in rows:
            event = event_store.event_decoder.decode(r["payload"])
            account = found.get(r["stream_id"])
            if account is None:
                assert isinstance(event, AccountOpened)  # guaranteed by the write side
                found[r["stream_id"]] = Account.opened(event)
            else:
                found[r["stream_id"]] = account.apply(event)  # type: ignore[arg-type]
        return found

    def remember(self, account: Account) -> None:
        known = self._cache.get(account.id)
        if known is not None and known.version > account.version:
            return  # never step back to an older state
        self._cache[account.id] = account
        self._cache.move_to_end(account.id)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    def forget(self, account_id: UUID) -> None:
        self._cache.pop(account_id, None)
