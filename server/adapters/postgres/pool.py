"""The PostgreSQL pools of our processes: asyncpg's, without the reset query on release.

asyncpg resets a connection every time it goes back to the pool with one more
round trip (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;``).
None of our pooled code keeps session state: no ``SET`` (settings go in
``server_settings`` at connect, which ``RESET ALL`` would keep anyway), no
``LISTEN``, no session advisory locks (migrations take theirs on a connection of
their own), no cursors held past a transaction. So the pools release without that
query (docs/adr/0204-pool-release-without-reset.md). asyncpg still rolls back a
transaction left open (the connection's own ``_reset``, a round trip only then).

A new user of a pool that does keep session state must undo it itself, or take a
connection of its own (``asyncpg.connect``).
"""

from __future__ import annotations

from typing import Any

import asyncpg


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Nothing to reset: no pooled code leaves session state behind."""


async def create_pool(dsn: str, **kwargs: Any) -> asyncpg.Pool:
    """``asyncpg.create_pool`` with the release reset left out."""
    pool: asyncpg.Pool = await asyncpg.create_pool(dsn, reset=_no_session_reset, **kwargs)
    return pool
