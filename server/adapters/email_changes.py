"""A new email address waiting for the code emailed to it (table ``email_changes``).

One row per customer at most: a new request replaces it (unless the last code went out
less than ``resend_after_seconds`` ago), and the confirmation takes it. Times are the
database's, as for the password-reset code (server/adapters/users.py).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def start(
    conn: asyncpg.Connection | asyncpg.Pool,
    user_id: UUID,
    new_email: str,
    digest: bytes,
    valid_seconds: int,
    resend_after_seconds: int,
) -> bool:
    """Keep ``new_email`` with the digest of the code sent to it, valid for
    ``valid_seconds``, replacing an earlier request; False, keeping the earlier one, when
    its code went out less than ``resend_after_seconds`` ago."""
    done = await conn.fetchval(
        "INSERT INTO email_changes (user_id, new_email, code_digest, expires_at)"
        " VALUES ($1, $2, $3, now() + make_interval(secs => $4::float8))"
        " ON CONFLICT (user_id) DO UPDATE SET new_email = excluded.new_email,"
        "  code_digest = excluded.code_digest, sent_at = excluded.sent_at,"
        "  expires_at = excluded.expires_at"
        " WHERE email_changes.sent_at <= now() - make_interval(secs => $5::float8)"
        " RETURNING true",
        user_id,
        new_email,
        digest,
        float(valid_seconds),
        float(resend_after_seconds),
    )
    return bool(done)


async def forget(conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID, digest: bytes) -> None:
    """Drop the request of ``digest`` (its email could not be sent)."""
    await conn.execute(
        "DELETE FROM email_changes WHERE user_id = $1 AND code_digest = $2", user_id, digest
    )


async def pending_to(conn: asyncpg.Connection | asyncpg.Pool, user_id: UUID) -> str | None:
    """The new address waiting for its code, unless there is none or the code expired."""
    new_email: str | None = await conn.fetchval(
        "SELECT new_email FROM email_changes WHERE user_id = $1 AND expires_at > now()",
        user_id,
    )
    return new_email


async def take(conn: asyncpg.Connection, user_id: UUID, digest: bytes) -> str | None:
    """The new address when ``digest`` is the code of the user's unexpired request,
    which it removes (a code works once); else None, changing nothing."""
    new_email: str | None = await conn.fetchval(
        "DELETE FROM email_changes"
        " WHERE user_id = $1 AND code_digest = $2 AND expires_at > now()"
        " RETURNING new_email",
        user_id,
        digest,
    )
    return new_email
