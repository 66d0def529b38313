"""The projection writer's one statement (docs/adr/0312): postings, analytics, the
accounts' final state and the Kafka position together, and the touched accounts'
rows back as they are after it, whether the statement changed them or not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from server.projections import writer
from server.projections.plan import AccountUpdate, BatchPlan, OpenRow, PostingRow

CONSUMER = "writer-test"


def _opened(account: uuid.UUID, now: datetime) -> OpenRow:
    return (account, uuid.uuid4(), "test", "EUR", "active", 0, 1, now, now)


def _deposits(account: uuid.UUID, versions: range, now: datetime) -> list[PostingRow]:
    return [
        (
            account,
            v,
            uuid.uuid4(),
            "deposit",
            100,
            100 * (v - 1),
            "EUR",
            None,
            "",
            now,
            uuid.uuid4(),
        )
        for v in versions
    ]


def _update(account: uuid.UUID, version: int, now: datetime) -> AccountUpdate:
    return AccountUpdate(account, version, 100 * (version - 1), None, now, None)


async def test_one_statement_applies_a_batch_and_returns_every_touched_account(
    db: asyncpg.Pool,
) -> None:
    now = datetime.now(UTC)
    funded, quiet = uuid.uuid4(), uuid.uuid4()
    topic = f"writer-test-{uuid.uuid4().hex[:8]}"
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:  # rolled back: nothing is left in the read models
            await writer.apply_plan(conn, BatchPlan(opens=[_opened(funded, now)]))
            plan = BatchPlan(
                opens=[_opened(quiet, now)],
                postings=_deposits(funded, range(2, 5), now),
                updates=[_update(funded, 4, now)],
            )
            rows = await writer.apply_plan(conn, plan, CONSUMER, {(topic, 3): (41, None)})
            redelivered = BatchPlan(postings=plan.postings, updates=plan.updates)
            again = await writer.apply_plan(conn, redelivered, CONSUMER, {(topic, 3): (42, None)})
            postings = await conn.fetchval(
                "SELECT count(*) FROM transaction_view WHERE account_id = $1", funded
            )
            day = await conn.fetchrow(
                "SELECT money_in, count, closing_balance FROM analytics_view WHERE account_id = $1",
                funded,
            )
            offset = await conn.fetchval(
                'SELECT "offset" FROM projection_checkpoints'
                " WHERE consumer = $1 AND topic = $2 AND partition = 3",
                CONSUMER,
                topic,
            )
        finally:
            await tx.rollback()
    by_id = {r["account_id"]: r for r in rows}
    assert set(by_id) == {funded, quiet}
    assert (by_id[funded]["version"], by_id[funded]["balance"]) == (4, 300)  # the UPDATE's row
    assert (by_id[quiet]["version"], by_id[quiet]["balance"]) == (1, 0)  # read, not changed
    # The redelivery changes nothing, and still answers with the account as it is.
    assert [(r["account_id"], r["version"], r["balance"]) for r in again] == [(funded, 4, 300)]
    assert postings == 3
    assert (day["money_in"], day["count"], day["closing_balance"]) == (300, 3, 300)
    assert offset == 42


async def test_a_lock_free_batch_planned_from_other_versions_writes_nothing(
    db: asyncpg.Pool,
) -> None:
    """The version check (migrations 0016, 0022): a lock-free batch planned from versions
    account_view is not at fails whole with serialization_failure, so the worker plans
    it again under lock; planned from the versions it is at, it applies."""
    now = datetime.now(UTC)
    account = uuid.uuid4()
    plan = BatchPlan(
        postings=_deposits(account, range(2, 4), now), updates=[_update(account, 3, now)]
    )
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:  # rolled back: nothing is left in the read models
            await writer.apply_plan(conn, BatchPlan(opens=[_opened(account, now)]))
            with pytest.raises(asyncpg.SerializationError):
                async with conn.transaction():  # a savepoint: the refused statement alone
                    await writer.apply_plan(conn, plan, planned_from={account: 2})
            refused = await conn.fetchval(
                "SELECT count(*) FROM transaction_view WHERE account_id = $1", account
            )
            rows = await writer.apply_plan(conn, plan, planned_from={account: 1})
            applied = await conn.fetchval(
                "SELECT count(*) FROM transaction_view WHERE account_id = $1", account
            )
        finally:
            await tx.rollback()
    assert refused == 0
    assert [(r["account_id"], r["version"], r["balance"]) for r in rows] == [(account, 3, 200)]
    assert applied == 2
