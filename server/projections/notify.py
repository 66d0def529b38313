"""After a batch is committed: refresh the Redis query cache of every touched
account and PUBLISH one message per changed account on its owner's channel
(the API instances forward it to the owner's WebSockets). A pushed transfer names
the other account by its number too."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import asyncpg
import msgspec

from server.projections.plan import AccountUpdate, PostingRow
from server.readmodel.cache import AccountChange, QueryCache
from server.readmodel.postings import row_counterparty
from server.readmodel.rows import account_response, posting_response
from shared.api import TransactionResponse
from shared.messages import (
    AccountNameChanged,
    AccountStatusChanged,
    BalanceChanged,
    ServerMessage,
)
from shared.money import Money

_encoder = msgspec.json.Encoder()


def messages_for(
    row: asyncpg.Record,
    update: AccountUpdate | None,
    opened: bool,
    numbers: Mapping[UUID, str],
) -> list[ServerMessage]:
    """What the owner's devices are told: the new balance and available balance
    (with the latest posting, its other account's number from ``numbers``) when money
    moved, a hold was placed or released, or the account is new; the status and the
    name when they changed."""
    msgs: list[ServerMessage] = []
    balance = Money(amount=row["balance"], currency=row["currency"])
    posting: PostingRow | None = update.last_posting if update else None
    holds_changed = update is not None and update.holds_changed
    if opened or posting is not None or holds_changed:
        msgs.append(
            BalanceChanged(
                account_id=row["account_id"],
                balance=balance,
                version=row["version"],
                transaction=_pushed(posting, numbers) if posting else None,
                available_balance=Money(
                    amount=row["balance"] - row["held"], currency=row["currency"]
                ),
            )
        )
    if update is not None and update.name is not None:
        msgs.append(
            AccountNameChanged(
                account_id=row["account_id"], name=row["name"], version=row["version"]
            )
        )
    if update is not None and update.status is not None:
        msgs.append(
            AccountStatusChanged(
                account_id=row["account_id"], status=row["status"], version=row["version"]
            )
        )
    return msgs


def _pushed(posting: PostingRow, numbers: Mapping[UUID, str]) -> TransactionResponse:
    other = row_counterparty(posting)
    return posting_response(posting, numbers.get(other) if other is not None else None)


async def publish_changes(
    cache: QueryCache,
    rows: list[asyncpg.Record],
    updates: dict[UUID, AccountUpdate],
    opened: set[UUID],
    numbers: Mapping[UUID, str],
) -> int:
    """Refresh caches and publish; returns the number of messages published."""
    if not rows:
        return 0
    changes = [
        AccountChange(
            account=account_response(row),
            messages=[
                _encoder.encode(m)
                for m in messages_for(
                    row, updates.get(row["account_id"]), row["account_id"] in opened, numbers
                )
            ],
        )
        for row in rows
    ]
    owners = sorted({row["owner_id"] for row in rows}, key=str)
    await cache.refresh_and_publish(changes, owners)
    return sum(len(c.messages) for c in changes)
