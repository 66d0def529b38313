"""Initial snapshot: rows already in the captured tables, emitted as ``op: r``.

Consistency: the slot is created with ``EXPORT_SNAPSHOT`` and the rows are read
in a REPEATABLE READ transaction that imports that snapshot, so they are
exactly the rows committed before the slot's consistent point; streaming then
starts at that point, with no gap and no overlap. Whether a slot's snapshot
was fully acked by Kafka is remembered in ``cdc_snapshots``; a connector that
dies mid-snapshot finds no row there, drops the slot and starts over (more
duplicates, nothing missing).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from cdc.envelope import TableShape, now_ms
from cdc.pgoutput import Column
from cdc.router import Change

log = logging.getLogger(__name__)

STATE_DDL = """
CREATE TABLE IF NOT EXISTS cdc_snapshots (
    slot_name      text PRIMARY KEY,
    consistent_lsn pg_lsn      NOT NULL,
    rows           bigint      NOT NULL,
    completed_at   timestamptz NOT NULL DEFAULT now()
)
"""

FETCH_ROWS = 2000


async def ensure_state(conn: asyncpg.Connection) -> None:
    await conn.execute(STATE_DDL)


async def snapshot_done(conn: asyncpg.Connection, slot: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM cdc_snapshots WHERE slot_name = $1", slot))


async def mark_done(conn: asyncpg.Connection, slot: str, lsn: int, rows: int) -> None:
    await conn.execute(
        "INSERT INTO cdc_snapshots (slot_name, consistent_lsn, rows) VALUES ($1, $2, $3)"
        " ON CONFLICT (slot_name) DO UPDATE SET consistent_lsn = EXCLUDED.consistent_lsn,"
        " rows = EXCLUDED.rows, completed_at = now()",
        slot,
        lsn,
        rows,
    )


async def forget(conn: asyncpg.Connection, slot: str) -> None:
    await conn.execute("DELETE FROM cdc_snapshots WHERE slot_name = $1", slot)


async def _shape(conn: asyncpg.Connection, table: str) -> tuple[TableShape, str]:
    rows = await conn.fetch(
        "SELECT a.attname, a.atttypid::int AS oid, c.oid::int AS reloid,"
        " COALESCE(a.attnum = ANY(i.indkey), false) AS is_key"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary"
        " WHERE n.nspname = 'public' AND c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        table,
    )
    columns = tuple(Column(r["attname"], r["oid"], -1, r["is_key"]) for r in rows)
    keys = [r["attname"] for r in rows if r["is_key"]] or [rows[0]["attname"]]
    order = ", ".join('"' + k + '"' for k in keys)
    return TableShape(rows[0]["reloid"], "public", table, columns), order


async def run_snapshot(
    dsn: str,
    snapshot_name: str,
    tables: list[str],
    consistent_lsn: int,
    emit: Callable[[Change], Awaitable[None]],
) -> int:
    """Read every row of ``tables`` as of the exported snapshot, ``emit`` each; the row count."""
    conn = await asyncpg.connect(
        dsn, server_settings={"TimeZone": "UTC", "application_name": "bank-cdc-snapshot"}
    )
    total = 0
    previous: Change | None = None  # held back one row so the last can say snapshot "last"
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_name}'")
            for table in tables:
                shape, order = await _shape(conn, table)
                select = ", ".join(f'"{n}"::text' for n in shape.names)
                sql = f'SELECT {select} FROM public."{table}" ORDER BY {order}'
                ts = now_ms()
                async for record in conn.cursor(sql, prefetch=FETCH_ROWS):
                    values = [None if v is None else v.encode() for v in record.values()]
                    total += 1
                    if previous is not None:
                        await emit(previous)
                    previous = Change(
                        shape=shape,
                        op="r",
                        before=None,
                        after=values,
                        lsn=consistent_lsn,
                        tx_id=None,
                        commit_ts_ms=ts,
                        snapshot="true",
                    )
                log.info("snapshot of %s done (%d rows so far)", table, total)
            if previous is not None:
                previous.snapshot = "last"
                await emit(previous)
    finally:
        await conn.close()
    return total
