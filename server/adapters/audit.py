"""The audit trail (table audit_log, append-only): write a record, search records.

``write`` takes the caller's connection so that a record commits or rolls back
with the act it describes; ``write_alone`` is for refusals whose own
transaction rolled back (and for acts whose effect lives outside PostgreSQL,
such as a Redis session).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from server.application.audit import DENIAL_CODES, AuditRecord, Outcome

__all__ = [
    "DENIAL_CODES",
    "AuditRecord",
    "Outcome",
    "AuditRow",
    "row",
    "search",
    "write",
    "write_alone",
    "write_many",
]

_json = msgspec.json.Encoder()


COLUMNS = (
    "actor_id",
    "actor_role",
    "session_id",
    "action",
    "target_type",
    "target_id",
    "account_id",
    "outcome",
    "reason_code",
    "client_ip",
    "user_agent",
    "trace_id",
    "details",
)
_INSERT = (
    f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(COLUMNS)))}, ${len(COLUMNS)}::json)"
)


def row(r: AuditRecord) -> tuple[Any, ...]:
    """The record as the values of COLUMNS, in order."""
    return (
        r.actor_id,
        r.actor_role,
        r.session_id,
        r.action,
        r.target_type,
        r.target_id,
        r.account_id,
        r.outcome,
        r.reason_code,
        r.client_ip,
        r.user_agent[:512] if r.user_agent else None,
        r.trace_id,
        _json.encode(r.details).decode(),
    )


async def write(conn: asyncpg.Connection, record: AuditRecord) -> None:
    """Append the record inside the caller's transaction."""
    await conn.execute(_INSERT, *row(record))


async def write_alone(pool: asyncpg.Pool, record: AuditRecord) -> None:
    """Append the record in a transaction of its own."""
    await pool.execute(_INSERT, *row(record))


async def write_many(conn: asyncpg.Connection, records: Sequence[AuditRecord]) -> None:
    """Append many records inside the caller's transaction, with one COPY."""
    if records:
        await conn.copy_records_to_table(
            "audit_log", columns=COLUMNS, records=[row(r) for r in records]
        )


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    occurred_at: datetime
    actor_id: UUID | None
    actor_role: str | None
    session_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    account_id: UUID | None
    outcome: Outcome  # the audit_log table's CHECK constraint holds it to these
    reason_code: str | None
    client_ip: str | None
    user_agent: str | None
    trace_id: str | None
    details: str


async def search(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    actor_id: UUID | None = None,
    account_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditRow]:
    """Newest first; ``before_id`` continues a previous page."""
    rows = await conn.fetch(
        "SELECT id, occurred_at, actor_id, actor_role, session_id, action, target_type,"
        " target_id, account_id, outcome, reason_code, client_ip, user_agent, trace_id,"
        " details::text AS details FROM audit_log"
        " WHERE ($1::uuid IS NULL OR actor_id = $1)"
        " AND ($2::uuid IS NULL OR account_id = $2)"
        " AND ($3::timestamptz IS NULL OR occurred_at >= $3)"
        " AND ($4::timestamptz IS NULL OR occurred_at < $4)"
        " AND ($5::bigint IS NULL OR id < $5)"
        " ORDER BY id DESC LIMIT $6",
        actor_id,
        account_id,
        since,
        until,
        before_id,
        limit,
    )
    return [AuditRow(**dict(r)) for r in rows]
