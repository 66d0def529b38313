"""The live feed's catch-up: what a (re)connecting socket missed, from the read
models. For each of the owner's accounts whose view is newer than the version
the client last saw: the postings after that version (oldest first, at most
CATCH_UP_MAX_POSTINGS; a transfer names the other account's number), then the current
balance (with the available balance) and status."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from itertools import islice
from typing import Any
from uuid import UUID

import asyncpg

from server.adapters.account_numbers import with_counterparty_numbers
from server.readmodel.rows import transaction_response
from server.readmodel.tables import AccountView, TransactionView
from shared.api import TransactionResponse
from shared.messages import AccountStatusChanged, BalanceChanged, ServerMessage
from shared.money import Money

CATCH_UP_MAX_POSTINGS = 200


async def missed_messages(
    db: asyncpg.Pool,
    owner_id: UUID,
    last_versions: Mapping[UUID, int],
    only: Collection[UUID] | None = None,
) -> list[ServerMessage]:
    """The messages a client that saw ``last_versions`` (per account) missed,
    in the order to send them; of the accounts in ``only`` when it is given. The
    sender still drops any message whose version it has already sent."""
    behind: list[tuple[dict[str, Any], list[TransactionResponse]]] = []
    accounts = await AccountView.select().where(AccountView.owner_id == owner_id)
    for a in accounts:
        if only is not None and a["account_id"] not in only:
            continue
        last = last_versions.get(a["account_id"], 0)
        if a["version"] <= last:
            continue
        postings = await (
            TransactionView.select()
            .where(
                (TransactionView.account_id == a["account_id"]) & (TransactionView.version > last)
            )
            .order_by(TransactionView.version, ascending=False)
            .limit(CATCH_UP_MAX_POSTINGS)
        )
        behind.append((a, [transaction_response(p) for p in reversed(postings)]))
    # The other accounts' numbers of every account's postings in one query.
    numbered = iter(await with_counterparty_numbers(db, [t for _, ts in behind for t in ts]))
    messages: list[ServerMessage] = []
    for a, missed in behind:
        account_id = a["account_id"]
        balance = Money(amount=a["balance"], currency=a["currency"])
        available = Money(amount=a["balance"] - a["held"], currency=a["currency"])
        for t in islice(numbered, len(missed)):  # this account's, in order
            # The available balance is known at the account's current version only.
            now = available if t.version == a["version"] else None
            messages.append(
                BalanceChanged(
                    account_id=account_id,
                    balance=t.balance_after,
                    version=t.version,
                    transaction=t,
                    available_balance=now,
                )
            )
        messages.append(
            BalanceChanged(
                account_id=account_id,
                balance=balance,
                version=a["version"],
                available_balance=available,
            )
        )
        messages.append(
            AccountStatusChanged(account_id=account_id, status=a["status"], version=a["version"])
        )
    return messages
