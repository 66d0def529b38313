"""Users table access."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from shared.security import Role


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: UUID
    email: str
    password_hash: str
    full_name: str
    role: Role  # the users table's CHECK constraint holds it to these


async def insert_user(
    conn: asyncpg.Connection | asyncpg.Pool,
    user_id: UUID,
    email: str,
    password_hash: str,
    full_name: str,
    role: str = "customer",
) -> bool:
    """False if the email is taken (case-insensitively)."""
    done = await conn.fetchval(
        "INSERT INTO users (id, email, password_hash, full_name, role) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING RETURNING true",
        user_id,
        email,
        password_hash,
        full_name,
        role,
    )
    return bool(done)


async def find_by_id(conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID) -> UserRecord | None:
    row = await conn.fetchrow(
        "SELECT id, email, password_hash, full_name, role FROM users WHERE id = $1", user_id
    )
    return UserRecord(**dict(row)) if row else None


async def set_password_hash(conn: asyncpg.Connection, user_id: UUID, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def find_by_email(conn: asyncpg.Connection | asyncpg.Pool, email: str) -> UserRecord | None:
    row = await conn.fetchrow(
        "SELECT id, email, password_hash, full_name, role FROM users"
        " WHERE lower(email) = lower($1)",
        email,
    )
    return UserRecord(**dict(row)) if row else None
