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
    two_step: bool  # whether signing in also takes a code (two_step_of has the secret)


# A UserRecord's columns, as every query that makes one selects or returns them.
USER_COLUMNS = "id, email, password_hash, full_name, role, totp_secret IS NOT NULL AS two_step"


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
    row = await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return UserRecord(**dict(row)) if row else None


async def set_email(conn: asyncpg.Connection, user_id: UUID, email: str) -> bool:
    """Give the user ``email``; a password-reset code sent to the old address stops
    working. False when another account has it (case-insensitively), changing nothing."""
    try:
        async with conn.transaction():  # a savepoint inside the caller's transaction
            await conn.execute(
                "UPDATE users SET email = $2, reset_code_digest = NULL,"
                " reset_code_expires_at = NULL WHERE id = $1",
                user_id,
                email,
            )
    except asyncpg.UniqueViolationError:
        return False
    return True


async def set_password_hash(conn: asyncpg.Connection, user_id: UUID, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def find_by_email(conn: asyncpg.Connection | asyncpg.Pool, email: str) -> UserRecord | None:
    row = await conn.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)",
        email,
    )
    return UserRecord(**dict(row)) if row else None


async def set_reset_code(
    conn: asyncpg.Connection | asyncpg.Pool,
    user_id: UUID,
    digest: bytes,
    valid_seconds: int,
    resend_after_seconds: int,
) -> bool:
    """Keep the digest of a new password-reset code, valid for ``valid_seconds`` from
    the database's now (it replaces an older one); False, keeping the older one, when
    that was issued less than ``resend_after_seconds`` ago."""
    done = await conn.fetchval(
        "UPDATE users SET reset_code_digest = $2,"
        " reset_code_expires_at = now() + make_interval(secs => $3::float8)"
        " WHERE id = $1 AND (reset_code_expires_at IS NULL"
        "  OR reset_code_expires_at <= now() + make_interval(secs => $3::float8 - $4::float8))"
        " RETURNING true",
        user_id,
        digest,
        float(valid_seconds),
        float(resend_after_seconds),
    )
    return bool(done)


async def forget_reset_code(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, digest: bytes
) -> None:
    """Drop the code of ``digest`` (its email could not be sent: a new one may be asked
    for at once)."""
    await conn.execute(
        "UPDATE users SET reset_code_digest = NULL, reset_code_expires_at = NULL"
        " WHERE id = $1 AND reset_code_digest = $2",
        user_id,
        digest,
    )


async def valid_reset_code(conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID) -> bytes | None:
    """The digest of the user's password-reset code, unless there is none or it expired."""
    digest: bytes | None = await conn.fetchval(
        "SELECT reset_code_digest FROM users WHERE id = $1 AND reset_code_expires_at > now()",
        user_id,
    )
    return digest


async def reset_password(
    conn: asyncpg.Connection, user_id: UUID, password_hash: str, digest: bytes
) -> bool:
    """Set the password with the reset code of ``digest``, taking the code (it works
    once); False when it was taken meanwhile, replaced or expired."""
    done = await conn.fetchval(
        "UPDATE users SET password_hash = $2, reset_code_digest = NULL,"
        " reset_code_expires_at = NULL"
        " WHERE id = $1 AND reset_code_digest = $3 AND reset_code_expires_at > now()"
        " RETURNING true",
        user_id,
        password_hash,
        digest,
    )
    return bool(done)


@dataclass(frozen=True, slots=True)
class TwoStepRecord:
    """A user's two-step sign-in: the sealed secret in use (None: off), the one shown
    and not yet confirmed, and the time step of the last code taken."""

    secret: bytes | None
    pending: bytes | None
    last_step: int | None


async def two_step_of(conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID) -> TwoStepRecord:
    row = await conn.fetchrow(
        "SELECT totp_secret, totp_pending, totp_last_step FROM users WHERE id = $1", user_id
    )
    if row is None:
        return TwoStepRecord(None, None, None)
    return TwoStepRecord(row["totp_secret"], row["totp_pending"], row["totp_last_step"])


async def set_two_step_pending(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, sealed: bytes
) -> bool:
    """Keep a new secret to confirm; False when two-step sign-in is on already."""
    done = await conn.fetchval(
        "UPDATE users SET totp_pending = $2 WHERE id = $1 AND totp_secret IS NULL RETURNING true",
        user_id,
        sealed,
    )
    return bool(done)


async def turn_two_step_on(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, sealed: bytes, step: int
) -> bool:
    """The pending secret ``sealed`` (confirmed by a code of ``step``) becomes the one in
    use; False when it is no longer the pending one (set up again meanwhile) or two-step
    sign-in is on already."""
    done = await conn.fetchval(
        "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $3"
        " WHERE id = $1 AND totp_secret IS NULL AND totp_pending = $2 RETURNING true",
        user_id,
        sealed,
        step,
    )
    return bool(done)


async def turn_two_step_off(conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID) -> None:
    """Off, and its recovery codes gone (one statement)."""
    await conn.execute(
        "WITH codes AS (DELETE FROM two_step_recovery_codes WHERE user_id = $1)"
        " UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL"
        " WHERE id = $1",
        user_id,
    )


async def replace_recovery_codes(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, digests: list[bytes]
) -> None:
    """The user's recovery codes are now these (their digests); the earlier ones go."""
    await conn.execute(
        "WITH gone AS (DELETE FROM two_step_recovery_codes WHERE user_id = $1)"
        " INSERT INTO two_step_recovery_codes (user_id, digest)"
        " SELECT $1, d FROM unnest($2::bytea[]) AS d",
        user_id,
        digests,
    )


async def take_recovery_code(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, digests: list[bytes]
) -> int | None:
    """Mark the unused recovery code of one of ``digests`` (the typed code's, under
    each sealing key) used; how many are left then, or None when none was (wrong, or
    used already: two requests with one code cannot both take it)."""
    row = await conn.fetchrow(
        "WITH taken AS (UPDATE two_step_recovery_codes SET used_at = now()"
        "  WHERE user_id = $1 AND digest = ANY($2::bytea[]) AND used_at IS NULL RETURNING 1)"
        " SELECT (SELECT count(*) FROM taken) AS taken,"
        "  (SELECT count(*) FROM two_step_recovery_codes"
        "   WHERE user_id = $1 AND used_at IS NULL) AS unused_before",
        user_id,
        digests,
    )
    if not row or not row["taken"]:
        return None
    return int(row["unused_before"]) - 1


async def recovery_codes_left(conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID) -> int:
    n = await conn.fetchval(
        "SELECT count(*) FROM two_step_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        user_id,
    )
    return int(n or 0)


# The columns that hold a sealed two-step secret: in use, and shown but not confirmed.
SEALED_COLUMNS = ("totp_secret", "totp_pending")


async def reseal_two_step(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, column: str, before: bytes, now: bytes
) -> bool:
    """Replace a sealed secret (``column``: one of SEALED_COLUMNS) by the same secret
    sealed again; False when it changed meanwhile (turned off, or set up again)."""
    if column not in SEALED_COLUMNS:
        raise ValueError(f"{column} holds no sealed secret")
    done = await conn.fetchval(
        f"UPDATE users SET {column} = $3 WHERE id = $1 AND {column} = $2 RETURNING true",
        user_id,
        before,
        now,
    )
    return bool(done)


async def sealed_two_step_secrets(
    conn: asyncpg.Connection | asyncpg.Pool,
) -> list[tuple[UUID, bytes, str]]:
    """Every sealed two-step secret: (user, sealed value, its column)."""
    rows = await conn.fetch(
        "SELECT id, totp_secret AS sealed, 'totp_secret' AS col FROM users"
        " WHERE totp_secret IS NOT NULL"
        " UNION ALL SELECT id, totp_pending, 'totp_pending' FROM users"
        " WHERE totp_pending IS NOT NULL"
    )
    return [(r["id"], r["sealed"], r["col"]) for r in rows]


async def take_step(conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, step: int) -> bool:
    """Record that a code of ``step`` was used; False if this step or a later one was
    (the same code again, however fast the two requests came)."""
    done = await conn.fetchval(
        "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_secret IS NOT NULL"
        " AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING true",
        user_id,
        step,
    )
    return bool(done)
