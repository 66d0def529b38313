"""The WebSocket feed's catch-up after a pub/sub gap runs beside the live messages
(server/api/live.py): each version is sent once and in order, and a live message
newer than what the catch-up is reading does not make its postings drop. No servers:
a socket that records what it is sent, and the read models' answer given by hand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from server.api import live
from shared.messages import BalanceChanged
from shared.money import Money

ACCOUNT = uuid.uuid4()


class Socket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(msgspec.json.decode(text))


def changed(version: int) -> BalanceChanged:
    return BalanceChanged(
        account_id=ACCOUNT, balance=Money(amount=version * 100, currency="EUR"), version=version
    )


async def test_a_live_message_waits_for_the_catch_up_it_overtook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_models_answer = asyncio.Event()

    async def missed(
        db: None, owner_id: uuid.UUID, last_versions: dict[uuid.UUID, int]
    ) -> list[Any]:
        await read_models_answer.wait()  # the catch-up's query is under way...
        return [changed(5), changed(6)]

    monkeypatch.setattr(live, "missed_messages", missed)
    socket = Socket()
    session = live._Session(socket, {ACCOUNT: 4}, None)  # type: ignore[arg-type]

    async def published() -> AsyncIterator[bytes]:
        yield msgspec.json.encode(changed(6))  # ...when version 6 comes live

    catching_up = asyncio.create_task(session.catch_up(uuid.uuid4()))
    await asyncio.sleep(0)
    forwarding = asyncio.create_task(session.forward(published()))
    await asyncio.sleep(0.01)
    read_models_answer.set()
    await asyncio.gather(catching_up, forwarding)
    assert [m["version"] for m in socket.sent] == [5, 6]
