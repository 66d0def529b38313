"""Writes a BatchPlan to the read models: COPY for new accounts and postings,
one set-based statement each for transaction_view + analytics_view and for
account_view. Runs inside the caller's transaction, together with the
checkpoint, so a batch is applied entirely or not at all."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from server.projections.plan import BatchPlan

ACCOUNT_COLUMNS = (
    "account_id", "owner_id", "name", "currency", "status", "balance", "version",
    "opened_at", "updated_at",
)  # fmt: skip
POSTING_COLUMNS = (
    "account_id", "version", "transaction_id", "kind", "amount", "balance_after", "currency",
    "counterparty_account_id", "description", "occurred_at", "event_id",
)  # fmt: skip

# Session temp tables, created once per connection and emptied by each batch
# (cheaper than ON COMMIT DELETE ROWS, which truncates files at every commit).
_CREATE_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS tmp_postings (LIKE transaction_view);
CREATE TEMP TABLE IF NOT EXISTS tmp_account_updates (
    account_id uuid, version integer, balance bigint, status text, updated_at timestamptz,
    held_delta bigint
);
"""
# DELETE leaves dead rows that only VACUUM makes room over, and autovacuum never
# visits another session's temp tables: their files grew by every batch, and every
# batch's scans of them read all of it (the DELETE of tmp_postings 0.4 -> 7.4 ms
# between 30,000 and 74,000 events; docs/adr/0207). TRUNCATE gives the files back;
# it makes a new file per table, so it runs once every this many rows, not per batch.
TEMP_ROWS_BETWEEN_TRUNCATES = 2_000
# Backends that have the temp tables: rows through them since their last truncate.
_temp_tables: dict[int, int] = {}

# Postings not seen before go into transaction_view; exactly those are added to
# the day's analytics (a posting that lost an insert race adds nothing).
_APPLY_POSTINGS = """
WITH inserted AS (
    INSERT INTO transaction_view SELECT * FROM tmp_postings
    ON CONFLICT (account_id, version) DO NOTHING
    RETURNING account_id, version, kind, amount, balance_after, occurred_at
)
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
"""

_APPLY_UPDATES = """
UPDATE account_view AS v SET
    balance = COALESCE(u.balance, v.balance),
    status = COALESCE(u.status, v.status),
    held = v.held + u.held_delta,
    version = u.version,
    updated_at = u.updated_at
FROM tmp_account_updates AS u
WHERE v.account_id = u.account_id AND v.version < u.version
"""

_CHANGED = """
SELECT account_id, owner_id, name, currency, status, balance, held, version, opened_at
FROM account_view WHERE account_id = ANY($1::uuid[])
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


async def apply_plan(conn: asyncpg.Connection, plan: BatchPlan) -> list[asyncpg.Record]:
    """Apply ``plan``; return the account_view rows of every touched account."""
    if plan.opens:
        await conn.copy_records_to_table(
            "account_view", records=plan.opens, columns=ACCOUNT_COLUMNS
        )
    pid = conn.get_server_pid()
    if (plan.postings or plan.updates) and pid not in _temp_tables:
        await conn.execute(_CREATE_TEMP)
        _temp_tables[pid] = 0
    try:
        await _apply_rows(conn, plan)
    except asyncpg.UndefinedTableError:
        _temp_tables.pop(pid, None)  # a new backend reused the pid
        raise
    touched = list(plan.touched)
    if not touched:
        return []
    return list(await conn.fetch(_CHANGED, touched))


async def _apply_holds(conn: asyncpg.Connection, plan: BatchPlan) -> None:
    if plan.holds_placed:
        await conn.execute(
            _PLACE_HOLDS, *(list(col) for col in zip(*plan.holds_placed, strict=True))
        )
    if plan.holds_released:
        await conn.execute(_RELEASE_HOLDS, plan.holds_released)


async def _apply_rows(conn: asyncpg.Connection, plan: BatchPlan) -> None:
    await _apply_holds(conn, plan)
    if plan.postings:
        await conn.copy_records_to_table(
            "tmp_postings", records=plan.postings, columns=POSTING_COLUMNS
        )
        await conn.execute(_APPLY_POSTINGS + "; DELETE FROM tmp_postings")
    if plan.updates:
        rows: list[tuple[UUID, int, int | None, str | None, datetime, int]] = [
            (u.account_id, u.version, u.balance, u.status, u.updated_at, u.held_delta)
            for u in plan.updates
        ]
        await conn.copy_records_to_table("tmp_account_updates", records=rows)
        await conn.execute(_APPLY_UPDATES + "; DELETE FROM tmp_account_updates")
    pid = conn.get_server_pid()
    if pid not in _temp_tables:
        return  # nothing went through them
    through = _temp_tables[pid] + len(plan.postings) + len(plan.updates)
    if through >= TEMP_ROWS_BETWEEN_TRUNCATES:
        await conn.execute("TRUNCATE tmp_postings, tmp_account_updates")
        through = 0
    _temp_tables[pid] = through


async def save_checkpoints(
    conn: asyncpg.Connection,
    consumer: str,
    positions: dict[tuple[str, int], tuple[int, UUID | None]],
) -> None:
    """Remember the last applied offset (and its event id) per topic partition."""
    if not positions:
        return
    await conn.executemany(
        "INSERT INTO projection_checkpoints"
        ' (consumer, topic, partition, "offset", event_id, updated_at)'
        " VALUES ($1, $2, $3, $4, $5, now())"
        " ON CONFLICT (consumer, topic, partition) DO UPDATE SET"
        ' "offset" = excluded."offset", event_id = excluded.event_id, updated_at = now()',
        [(consumer, t, p, off, eid) for (t, p), (off, eid) in positions.items()],
    )


async def load_checkpoints(
    conn: asyncpg.Connection | asyncpg.Pool, consumer: str
) -> dict[tuple[str, int], tuple[int, UUID | None]]:
    rows = await conn.fetch(
        'SELECT topic, partition, "offset", event_id FROM projection_checkpoints'
        " WHERE consumer = $1",
        consumer,
    )
    return {(r["topic"], r["partition"]): (r["offset"], r["event_id"]) for r in rows}
