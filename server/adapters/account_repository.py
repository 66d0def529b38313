"""Loads Account aggregates from the event store, with a bounded in-process cache.

The cache keeps each account's state at a known stream version; a load reads
only the events after it (one indexed query), so a command never re-reads a
long stream. The cache is updated only after a commit, so a rolled-back
decision never leaks into it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import cast
from uuid import UUID

import asyncpg

from server.adapters import event_store
from server.domain.account import Account
from shared.events import AccountEvent, AccountOpened


class AccountRepository:
    def __init__(self, max_cached: int = 50_000) -> None:
        self._cache: OrderedDict[UUID, Account] = OrderedDict()
        self._max = max_cached

    async def get(self, conn: asyncpg.Connection, account_id: UUID) -> Account | None:
        cached = self._cache.get(account_id)
        after = cached.version if cached else 0
        events = await event_store.read_stream(conn, account_id, after)
        if cached is None:
            first = events[0] if events else None
            if not isinstance(first, AccountOpened):
                return None  # no stream, or another kind's (a transfer's id names one too)
            account = Account.opened(first)
            events = events[1:]
        else:
            account = cached
        for event in events:
            account = account.apply(cast(AccountEvent, event))  # an account stream's event
        return account

    def cached(self, account_id: UUID) -> Account | None:
        return self._cache.get(account_id)

    def fold(self, account_id: UUID, cached: Account | None, payloads: list[str]) -> Account:
        """The state of an existing account: ``cached`` (or nothing) moved on by the events
        after it (JSON payloads, in version order)."""
        account = cached
        for payload in payloads:
            event = event_store.event_decoder.decode(payload)
            if account is None:
                assert isinstance(event, AccountOpened)  # guaranteed by the write side
                account = Account.opened(event)
            else:
                account = account.apply(cast(AccountEvent, event))  # an account stream's event
        if account is None:
            raise LookupError(f"account {account_id} has an owner row but no events")
        return account

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
