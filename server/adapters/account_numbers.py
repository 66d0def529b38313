"""Account numbers by account id, from the account registry (account_owners).

A transfer's posting names the other account by its internal id, which a person can
neither read nor type: history, a transaction's page, statements and the live feed show
its number too (a number never changes). One query for any number of accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import asyncpg
import msgspec

from server.domain.account_number import formatted
from shared.api import TransactionResponse

_NUMBERS = "SELECT account_id, account_number FROM account_owners WHERE account_id = ANY($1)"


async def account_numbers(
    db: asyncpg.Pool | asyncpg.Connection, account_ids: Iterable[UUID]
) -> dict[UUID, str]:
    """Account id -> its number, formatted in groups of four; ids without one are left out."""
    wanted = list(set(account_ids))
    rows = await db.fetch(_NUMBERS, wanted) if wanted else []
    return {r["account_id"]: formatted(r["account_number"]) for r in rows if r["account_number"]}


async def with_counterparty_numbers(
    db: asyncpg.Pool | asyncpg.Connection, items: list[TransactionResponse]
) -> list[TransactionResponse]:
    """``items`` with the other account's number on each transfer."""
    others = [t.counterparty_account_id for t in items if t.counterparty_account_id is not None]
    if not others:
        return items
    return _numbered(items, await account_numbers(db, others))


def _numbered(
    items: list[TransactionResponse], numbers: dict[UUID, str]
) -> list[TransactionResponse]:
    return [
        msgspec.structs.replace(t, counterparty_account_number=numbers.get(cp))
        if (cp := t.counterparty_account_id) is not None
        else t
        for t in items
    ]


class KnownAccountNumbers:
    """The numbers of the accounts a process has met, kept (a number never changes):
    the projection worker names the other side of every pushed transfer without a
    query once it has met the account. At most ``limit`` are kept."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._numbers: dict[UUID, str] = {}

    async def of(
        self, db: asyncpg.Pool | asyncpg.Connection, account_ids: Iterable[UUID]
    ) -> dict[UUID, str]:
        wanted = set(account_ids)
        missing = wanted - self._numbers.keys()
        if missing:
            found = await account_numbers(db, missing)
            if len(self._numbers) + len(found) > self.limit:
                self._numbers.clear()
            self._numbers.update(found)
        return {a: n for a in wanted if (n := self._numbers.get(a)) is not None}
