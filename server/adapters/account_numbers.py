"""Account numbers by account id, from the account registry (account_owners).

A transfer's posting names the other account by its internal id, which a person can
neither read nor type: history, a transaction's page and statements show its number
instead (a number never changes). One query for any number of accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import asyncpg

from server.domain.account_number import formatted

_NUMBERS = "SELECT account_id, account_number FROM account_owners WHERE account_id = ANY($1)"


async def account_numbers(
    db: asyncpg.Pool | asyncpg.Connection, account_ids: Iterable[UUID]
) -> dict[UUID, str]:
    """Account id -> its number, formatted in groups of four; ids without one are left out."""
    wanted = list(set(account_ids))
    rows = await db.fetch(_NUMBERS, wanted) if wanted else []
    return {r["account_id"]: formatted(r["account_number"]) for r in rows if r["account_number"]}
