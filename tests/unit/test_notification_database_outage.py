"""PostgreSQL or the mail provider away: the notification consumer waits for it instead of
ending the process (the chaos suite saw it exit with code 1 when PostgreSQL was killed)
or of waiting on it for every alert. A fake pool; no servers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from runtime.settings import Settings
from server.notifications import consumer as consumer_module
from server.notifications.consumer import NotificationConsumer


class AwayThenBack:
    """A pool whose first ``away`` fetches fail as a restarting PostgreSQL's do."""

    def __init__(self, away: int, rows: list[dict[str, Any]]) -> None:
        self.away = away
        self.rows = rows
        self.fetches = 0
        self.expired = 0  # times the pool was told to drop its connections

    async def expire_connections(self) -> None:
        self.expired += 1

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        self.fetches += 1
        if self.fetches <= self.away:
            raise ConnectionRefusedError(111, "Connection refused")
        return self.rows


def consumer(pool: Any) -> NotificationConsumer:
    redis: Any = Redis.from_url("redis://127.0.0.1:1")  # never connected: nothing is sent
    return NotificationConsumer(Settings.from_env({}), pool, redis, None)  # type: ignore[arg-type]


async def test_the_owners_of_a_batch_are_read_again_until_postgresql_is_back() -> None:
    account, owner = uuid.uuid4(), uuid.uuid4()
    pool = AwayThenBack(2, [{"stream_id": account, "owner_id": owner}])
    found = await consumer(pool)._owners_of({account})
    assert found == {account: owner}
    assert pool.fetches == 3
    assert pool.expired == 2, "each broken connection drops the pool's connections"


async def test_the_sweep_with_postgresql_away_waits_for_the_next_one() -> None:
    pool = AwayThenBack(1, [])
    c = consumer(pool)
    await c.sweep()  # no exception: the run loop goes on
    assert pool.fetches == 1
    await c.sweep()
    assert pool.fetches == 3  # the pushes due, then the security alerts due for an email


async def test_emailing_the_alerts_with_postgresql_away_waits_for_the_next_sweep() -> None:
    pool = AwayThenBack(1, [])
    c = consumer(pool)
    await c.mail()  # no exception: the run loop goes on
    await c.mail()
    assert pool.fetches == 2


class DueAlerts:
    """A pool with alerts due for an email; what is marked sent or failed is kept."""

    def __init__(self, ids: list[int]) -> None:
        now = datetime.now(UTC)
        self.rows = [
            {
                "notification_id": i,
                "address": f"c{i}@example.com",
                "full_name": "C",
                "title": "Your password was changed",
                "body": "Changed.",
                "occurred_at": now,
            }
            for i in ids
        ]
        self.marked: dict[str, list[int]] = {}

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return self.rows

    async def execute(self, query: str, *args: Any) -> None:
        self.marked["sent" if query.startswith("DELETE") else "failed"] = list(args[0])


class HangsOnSecond:
    def __init__(self) -> None:
        self.to: list[str] = []

    async def send(self, to: str, subject: str, body: str) -> None:
        self.to.append(to)
        if len(self.to) == 2:
            await asyncio.sleep(3600)  # a provider that never answers


async def test_a_provider_that_hangs_ends_the_round_and_the_rest_stay_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_module, "MAIL_SEND_SECONDS", 0.05)
    pool = DueAlerts([1, 2, 3])
    c = consumer(pool)
    c.mailer = HangsOnSecond()
    await c.mail()
    assert c.mailer.to == ["c1@example.com", "c2@example.com"]  # not the third
    assert pool.marked == {"sent": [1], "failed": [2]}  # 3 stays due as it was
