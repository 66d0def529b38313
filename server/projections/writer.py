"""Writes a BatchPlan to the read models: COPY for new accounts, then ONE statement
for the rest (transaction_view + analytics_view, account_view, the Kafka position)
that returns the account_view rows of every touched account (docs/adr/0312). Under
lock it runs inside the caller's transaction, after ``lock_versions``; a lock-free
plan (no COPY, no holds: docs/adr/0314) is that one statement alone, which checks
the versions it was planned from. Either way a batch is applied whole or not at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import asyncpg

from server.adapters.postgres.columns import unnest_columns
from server.projections.plan import BatchPlan

ACCOUNT_COLUMNS = (
    "account_id", "owner_id", "name", "currency", "status", "balance", "version",
    "opened_at", "updated_at",
)  # fmt: skip
POSTING_COLUMNS = (
    "account_id", "version", "transaction_id", "kind", "amount", "balance_after", "currency",
    "counterparty_account_id", "description", "occurred_at", "event_id",
)  # fmt: skip

Positions = dict[tuple[str, int], tuple[int, UUID | None]]

# Postings not seen before go into transaction_view; exactly those are added to the
# day's analytics (a posting that lost an insert race adds nothing). Each account's
# final state goes to account_view; the touched accounts' rows come back, the
# updated ones from the UPDATE (a statement's CTEs all read the snapshot it started
# with, so a plain SELECT would not see them). Data-modifying CTEs always run to
# completion, read or not.
# ``planned``: a lock-free batch ($24/$25: the versions it was planned from; empty
# under lock) fails whole with serialization_failure if account_view is not at those
# versions (migration 0016). Each write that has a row to write asks it first. An
# account's new name ($26, AccountRenamed) is set like its status: NULL leaves it.
_APPLY = """
WITH planned AS (
    SELECT projection_versions_match($24::uuid[], $25::int[]) AS ok
), inserted AS (
    INSERT INTO transaction_view (account_id, version, transaction_id, kind, amount,
                                  balance_after, currency, counterparty_account_id,
                                  description, occurred_at, event_id)
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::text[], $5::bigint[],
                         $6::bigint[], $7::text[], $8::uuid[], $9::text[],
                         $10::timestamptz[], $11::uuid[])
    WHERE (SELECT ok FROM planned)
    ON CONFLICT (account_id, version) DO NOTHING
    RETURNING account_id, version, kind, amount, balance_after, occurred_at
), analytics AS (
    INSERT INTO analytics_view AS a
        (account_id, day, money_in, money_out, count, closing_balance, closing_version)
    SELECT account_id,
           (occurred_at AT TIME ZONE 'UTC')::date,
           COALESCE(sum(amount) FILTER (WHERE kind IN ('deposit', 'transfer_in')), 0),
           COALESCE(sum(amount) FILTER (WHERE kind IN ('withdrawal', 'transfer_out')), 0),
           count(*),
           (array_agg(balance_after ORDER BY version DESC))[1],
           max(version)
    FROM inserted
    GROUP BY 1, 2
    ON CONFLICT (account_id, day) DO UPDATE SET
        money_in = a.money_in + excluded.money_in,
        money_out = a.money_out + excluded.money_out,
        count = a.count + excluded.count,
        closing_balance = CASE WHEN excluded.closing_version > a.closing_version
                               THEN excluded.closing_balance ELSE a.closing_balance END,
        closing_version = GREATEST(a.closing_version, excluded.closing_version)
), checkpoint AS (
    INSERT INTO projection_checkpoints AS c
        (consumer, topic, partition, "offset", event_id, updated_at)
    SELECT $18::text, t, p, o, e, now()
    FROM unnest($19::text[], $20::int[], $21::bigint[], $22::uuid[]) AS k(t, p, o, e)
    WHERE (SELECT ok FROM planned)
    ON CONFLICT (consumer, topic, partition) DO UPDATE SET
        "offset" = excluded."offset", event_id = excluded.event_id, updated_at = now()
), updated AS (
    UPDATE account_view AS v SET
        balance = COALESCE(u.balance, v.balance),
        status = COALESCE(u.status, v.status),
        name = COALESCE(u.name, v.name),
        held = v.held + u.held_delta,
        version = u.version,
        updated_at = u.updated_at
    FROM unnest($12::uuid[], $13::int[], $14::bigint[], $15::text[], $16::timestamptz[],
                $17::bigint[], $26::text[])
         AS u(account_id, version, balance, status, updated_at, held_delta, name)
    WHERE v.account_id = u.account_id AND v.version < u.version AND (SELECT ok FROM planned)
    RETURNING v.account_id, v.owner_id, v.name, v.currency, v.status, v.balance, v.held,
              v.version, v.opened_at
)
SELECT * FROM updated
UNION ALL
SELECT account_id, owner_id, name, currency, status, balance, held, version, opened_at
FROM account_view
WHERE account_id = ANY ($23::uuid[]) AND account_id NOT IN (SELECT account_id FROM updated)
"""


# Holds (migration 0011): a placed hold's row (a redelivery changes nothing), and the
# rows of released ones removed. Placed before released: a hold placed and released
# within one batch leaves no row.
_PLACE_HOLDS = """
INSERT INTO hold_view (hold_id, account_id, version, amount, currency, description,
                       to_account_id, expires_at, placed_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::bigint[], $5::text[], $6::text[],
                     $7::uuid[], $8::timestamptz[], $9::timestamptz[])
ON CONFLICT (hold_id) DO NOTHING
"""
_RELEASE_HOLDS = "DELETE FROM hold_view WHERE hold_id = ANY($1::uuid[])"


async def lock_versions(conn: asyncpg.Connection, accounts: list[UUID]) -> dict[UUID, int]:
    """Last applied version per account (absent: never seen), rows locked until commit."""
    rows = await conn.fetch(
        "SELECT account_id, version FROM account_view WHERE account_id = ANY($1::uuid[])"
        " ORDER BY account_id FOR UPDATE",
        accounts,
    )
    return {r["account_id"]: r["version"] for r in rows}


def apply_args(
    plan: BatchPlan,
    consumer: str,
    positions: Positions,
    planned_from: Mapping[UUID, int] | None = None,
) -> list[Any]:
    """The parameters of _APPLY, column by column."""
    updates = [
        (u.account_id, u.version, u.balance, u.status, u.updated_at, u.held_delta)
        for u in plan.updates
    ]
    checkpoints = [(t, p, off, eid) for (t, p), (off, eid) in positions.items()]
    return [
        *unnest_columns(plan.postings, len(POSTING_COLUMNS)),
        *unnest_columns(updates, 6),
        consumer,
        *unnest_columns(checkpoints, 4),
        list(plan.touched),
        list((planned_from or {}).keys()),
        list((planned_from or {}).values()),
        [u.name for u in plan.updates],  # $26: a new name, or NULL
    ]


async def apply_plan(
    conn: asyncpg.Connection,
    plan: BatchPlan,
    consumer: str = "",
    positions: Positions | None = None,
    planned_from: Mapping[UUID, int] | None = None,
) -> list[asyncpg.Record]:
    """Apply ``plan`` (and ``consumer``'s Kafka ``positions``); return the account_view
    rows of every touched account. With ``planned_from`` (a lock-free plan: the
    versions it was planned from), asyncpg.SerializationError and nothing written if
    account_view is not at those versions."""
    if plan.opens:
        await conn.copy_records_to_table(
            "account_view", records=plan.opens, columns=ACCOUNT_COLUMNS
        )
    await _apply_holds(conn, plan)
    if not (plan.touched or positions):  # a posting always comes with its account's update
        return []
    args = apply_args(plan, consumer, positions or {}, planned_from)
    return list(await conn.fetch(_APPLY, *args))


async def _apply_holds(conn: asyncpg.Connection, plan: BatchPlan) -> None:
    if plan.holds_placed:
        await conn.execute(
            _PLACE_HOLDS, *(list(col) for col in zip(*plan.holds_placed, strict=True))
        )
    if plan.holds_released:
        await conn.execute(_RELEASE_HOLDS, plan.holds_released)


async def load_checkpoints(conn: asyncpg.Connection | asyncpg.Pool, consumer: str) -> Positions:
    rows = await conn.fetch(
        'SELECT topic, partition, "offset", event_id FROM projection_checkpoints'
        " WHERE consumer = $1",
        consumer,
    )
    return {(r["topic"], r["partition"]): (r["offset"], r["event_id"]) for r in rows}
