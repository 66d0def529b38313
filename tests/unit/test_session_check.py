"""The check every authenticated request makes (``SessionService.is_active``), against
a session store that counts its lookups: requests that find the cached answer expired
share one lookup, and a revocation made while it runs stays revoked."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from server.application.sessions import SessionService


class CountingStore:
    """``exists`` waits until released, so the test decides when a lookup ends."""

    def __init__(self) -> None:
        self.lookups = 0
        self.release = asyncio.Event()
        self.sessions = {"s1"}

    async def exists(self, session_id: str) -> bool:
        self.lookups += 1
        found = session_id in self.sessions  # read when asked, as Redis answers it
        await self.release.wait()
        return found

    async def delete_all(self, user_id: Any) -> list[str]:
        del user_id
        self.sessions.clear()
        return ["s1"]


def service(store: CountingStore) -> SessionService:
    ctx = SimpleNamespace(settings=SimpleNamespace(session_check_cache_seconds=60.0), pool=None)
    return SessionService(ctx, store, account_lock=None, ip_lock=None)  # type: ignore[arg-type]


async def test_requests_that_find_the_answer_expired_share_one_lookup() -> None:
    store = CountingStore()
    sessions = service(store)
    checks = [asyncio.ensure_future(sessions.is_active("s1")) for _ in range(50)]
    await asyncio.sleep(0)
    store.release.set()
    assert await asyncio.gather(*checks) == [True] * 50
    assert store.lookups == 1
    assert await sessions.is_active("s1") is True and store.lookups == 1  # cached


async def test_a_request_that_goes_away_does_not_cancel_the_others_lookup() -> None:
    store = CountingStore()
    sessions = service(store)
    first = asyncio.ensure_future(sessions.is_active("s1"))
    second = asyncio.ensure_future(sessions.is_active("s1"))
    await asyncio.sleep(0)
    first.cancel()
    store.release.set()
    assert await second is True and store.lookups == 1


async def test_a_revocation_during_a_lookup_is_not_overwritten_by_it() -> None:
    store = CountingStore()
    sessions = service(store)
    in_flight = asyncio.ensure_future(sessions.is_active("s1"))
    await asyncio.sleep(0)  # the lookup has read "active"
    assert await sessions.revoke_all(user_id="u1") == ["s1"]
    store.release.set()
    await in_flight  # it answers what it read before the revocation
    assert await sessions.is_active("s1") is False
    assert store.lookups == 1  # the revocation's answer is cached, not the lookup's
