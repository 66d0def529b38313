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

# How long opening a connection may take before it is an error (a 503 in the API).
CONNECT_TIMEOUT_SECONDS = 5.0
# How long one statement may wait for PostgreSQL's answer before it is an error (a 503
# in the API, a failed tick in the scheduler, tried again): a server that hangs, or a
# network that holds its packets or lost the server (a failover), refuses and resets
# nothing, and a caller would wait for it without end. A request then waits twice this
# (asyncpg makes the next statement on the connection, the rollback, wait as long for
# the cancel, then closes it): 8 s, under the app's 10 s (client/api.py). Far above any
# statement of ours: the batch scenario at saturation, requests of 8,190 transfers taking
# 2.4-2.6 s, had no failure with a 1 s timeout (docs/adr/0302). The pipeline processes
# set none: they are watched for progress and restarted (docs/adr/0700).
STATEMENT_TIMEOUT_SECONDS = 4.0


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Nothing to reset: no pooled code leaves session state behind."""


async def create_pool(dsn: str, **kwargs: Any) -> asyncpg.Pool:
    """``asyncpg.create_pool`` with the release reset left out."""
    pool: asyncpg.Pool = await asyncpg.create_pool(dsn, reset=_no_session_reset, **kwargs)
    return pool
