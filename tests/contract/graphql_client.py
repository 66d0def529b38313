"""A small GraphQL client for the tests: queries over HTTP, subscriptions over
graphql-transport-ws (the protocol spoken by graphql-ws, Apollo and urql)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets


class GraphQL:
    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.token = token

    async def raw(self, query: str, **variables: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )

    async def run(self, query: str, **variables: Any) -> dict[str, Any]:
        """The whole answer ({"data": ..., "errors": [...]}); HTTP must be 200."""
        r = await self.raw(query, **variables)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.run(query, **variables)
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    async def error(self, query: str, **variables: Any) -> dict[str, Any]:
        """The first error of an answer that must have one."""
        body = await self.run(query, **variables)
        assert body.get("errors"), body
        first: dict[str, Any] = body["errors"][0]
        return first


@asynccontextmanager
async def subscription(
    api_url: str, token: str | None, query: str, **variables: Any
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Subscribe; yields a queue of the ``next``/``error`` messages of the subscription."""
    url = api_url.replace("http://", "ws://", 1) + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init: dict[str, Any] = {"type": "connection_init"}
        if token:
            init["payload"] = {"Authorization": f"Bearer {token}"}
        await ws.send(json.dumps(init))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        sub_id = str(uuid.uuid4())
        await ws.send(
            json.dumps(
                {
                    "id": sub_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def pump() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif msg.get("id") == sub_id:
                    await queue.put(msg)

        task = asyncio.create_task(pump())
        try:
            yield queue
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
