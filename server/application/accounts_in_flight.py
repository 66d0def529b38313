"""The accounts this process is writing to, so that two writes in flight never share one.

A write decided on the states this process knows is committed in one statement that
takes no locks (ADR 0327). Two such writes on one account race: one of them loses at
``UNIQUE (stream_id, version)``, is rolled back and is decided again under lock. For a
group of a few commands that costs a statement; for a batch of thousands of transfers
it cost the whole batch twice (two concurrent batches of 8,190 lost 3 of 6 writes:
docs/adr/0329-batches-take-their-accounts-in-turn.md).

So every write in this process first takes its accounts here:
- the group committer takes, for each group, the accounts of the commands it picked
  (``free``, ``hold``): a command waits while any of its accounts is held or claimed;
- a batch ``claim``s all its accounts at once and waits, in arrival order, until none
  is held or claimed by a batch before it; meanwhile the committer leaves its accounts
  alone, so a batch is never starved by the single commands that keep coming.
Other processes are not seen here: their writes still race at the constraint, and the
loser is decided again under lock, which is correct, at the price of one statement.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID


@dataclass(slots=True, eq=False)
class _Claim:
    accounts: frozenset[UUID]
    granted: asyncio.Future[None]


class AccountsInFlight:
    def __init__(self) -> None:
        self._held: Counter[UUID] = Counter()
        self._claims: list[_Claim] = []  # waiting, in arrival order
        self._claimed: Counter[UUID] = Counter()  # the accounts of the waiting claims
        self.released = asyncio.Event()  # set whenever accounts were let go

    def free(self, accounts: Iterable[UUID]) -> bool:
        """None of the accounts is held, nor claimed by a waiting batch."""
        held, claimed = self._held, self._claimed
        return not any(a in held or a in claimed for a in accounts)

    def hold(self, accounts: Iterable[UUID]) -> None:
        self._held.update(accounts)

    def release(self, accounts: Iterable[UUID]) -> None:
        _drop(self._held, accounts)
        self._grant()
        self.released.set()

    @asynccontextmanager
    async def holding(self, accounts: Collection[UUID]) -> AsyncIterator[None]:
        """All the accounts held for the block, once no write in flight or claim
        before this one touches any of them."""
        claimed = frozenset(accounts)
        await self._claim(claimed)
        try:
            yield
        finally:
            self.release(claimed)

    async def _claim(self, accounts: frozenset[UUID]) -> None:
        if not self._claims and self.free(accounts):
            self.hold(accounts)
            return
        claim = _Claim(accounts, asyncio.get_running_loop().create_future())
        self._claims.append(claim)
        self._claimed.update(accounts)
        try:
            await claim.granted
        except asyncio.CancelledError:
            if claim.granted.done() and not claim.granted.cancelled():
                self.release(accounts)  # granted as the caller went away
            else:
                self._withdraw(claim)
            raise

    def _withdraw(self, claim: _Claim) -> None:
        if claim in self._claims:  # else _grant already dropped it
            self._claims.remove(claim)
            self._unclaim(claim)
        self._grant()
        self.released.set()

    def _unclaim(self, claim: _Claim) -> None:
        _drop(self._claimed, claim.accounts)

    def _grant(self) -> None:
        """Grant, in arrival order, each claim free of the held accounts and of the
        claims still waiting before it (a claim whose caller went away is dropped)."""
        if not self._claims:
            return
        before: set[UUID] = set()
        waiting: list[_Claim] = []
        for claim in self._claims:
            if claim.granted.done():  # cancelled: its caller is on its way out
                self._unclaim(claim)
            elif claim.accounts.isdisjoint(before) and not any(
                a in self._held for a in claim.accounts
            ):
                self._unclaim(claim)
                self.hold(claim.accounts)
                claim.granted.set_result(None)
            else:
                waiting.append(claim)
                before.update(claim.accounts)
        self._claims = waiting


def _drop(counts: Counter[UUID], accounts: Iterable[UUID]) -> None:
    """One count less for each account; an account at zero leaves ``counts``."""
    for account_id in accounts:
        left = counts[account_id] - 1
        if left > 0:
            counts[account_id] = left
        else:
            del counts[account_id]
