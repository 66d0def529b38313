"""Changing a password when the database goes away in the middle: the other sessions
have ended, the password has not changed, and a retry with the same current password
succeeds (``SessionService.change_password`` ends the sessions before it writes the
hash). Real password hashing; the session store, the lock and the pool are in memory."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from server.adapters import passwords
from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.sessions import SessionService

OLD, NEW = "the old passphrase here", "an entirely new passphrase"


class Store:
    def __init__(self, user_id: uuid.UUID, *session_ids: str) -> None:
        self.user_id, self.ids = user_id, set(session_ids)

    async def list_for_user(self, user_id: uuid.UUID) -> list[Any]:
        assert user_id == self.user_id
        return [SimpleNamespace(id=sid) for sid in sorted(self.ids)]

    async def delete(self, sid: str, user_id: uuid.UUID) -> bool:
        found = sid in self.ids
        self.ids.discard(sid)
        return found


class NoLock:
    async def locked_for(self, subject: str) -> int:
        return 0

    async def failed(self, subject: str) -> bool:
        return False

    async def succeeded(self, subject: str) -> None:
        pass


class Pool:
    """The users row; ``down`` makes every new connection fail, as a database away does."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row, self.down, self.audited = row, False, 0

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any]:
        return dict(self.row)

    async def execute(self, sql: str, *args: Any) -> None:
        self.audited += 1

    @asynccontextmanager
    async def _connection(self) -> Any:
        pool = self

        class Conn:
            @asynccontextmanager
            async def transaction(self) -> Any:
                yield

            async def execute(self, sql: str, *args: Any) -> None:
                if sql.startswith("UPDATE users"):
                    pool.row["password_hash"] = args[1]
                else:
                    pool.audited += 1

        yield Conn()

    def acquire(self) -> Any:
        if self.down:
            raise ConnectionRefusedError("the database is away")
        return self._connection()


async def test_a_change_the_database_did_not_take_can_be_retried_with_the_same_password() -> None:
    user_id = uuid.uuid4()
    row = {
        "id": user_id,
        "email": "ada@example.com",
        "password_hash": await passwords.hash_password(OLD),
        "full_name": "Ada Lovelace",
        "role": "customer",
        "two_step": False,
    }
    pool, store = Pool(row), Store(user_id, "here", "phone", "laptop")
    ctx = SimpleNamespace(settings=SimpleNamespace(session_check_cache_seconds=1.0), pool=pool)
    sessions = SessionService(ctx, store, NoLock(), NoLock())  # type: ignore[arg-type]
    actor = Actor(user_id, session_id="here")

    pool.down = True
    with pytest.raises(ConnectionRefusedError):
        await sessions.change_password(actor, OLD, NEW, AuditRecord(action="change_password"))
    assert store.ids == {"here"}  # the other devices are signed out already
    assert await passwords.verify_password(pool.row["password_hash"], OLD)  # unchanged

    pool.down = False
    ended = await sessions.change_password(actor, OLD, NEW, AuditRecord(action="change_password"))
    assert ended == 0  # none left to end
    assert await passwords.verify_password(pool.row["password_hash"], NEW)
    assert pool.audited == 1  # the change that happened, once
