"""What each customer's app shows: one live socket per customer (WS /api/v1/ws), kept
open through every fault as the app keeps it. After a close it connects again with the
versions it has (the server sends what it missed), and signs in again when the bank says
the session is gone. What it shows of an account is the newest BalanceChanged it got.

After settling, checks.screens compares that with what the ledger says each account
holds: the last push of an account lost for good (a pub/sub gap nobody made up, a socket
left behind) leaves its screen wrong. An earlier lost push does not show: the live feed
sends one message per account per projected batch, with its newest version, so a screen
is not sent every version anyway. A screen must never be sent a version at or below one
it was sent already (server/api/live.py), across reconnections too."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.chaos.ledger import Session

CLOSE_UNAUTHORIZED = 4401  # server/api/live.py: the token or the session is not valid
RECONNECT_SECONDS = 0.25

_encoder = msgspec.json.Encoder()


class Screen:
    def __init__(
        self, api_url: str, http: httpx.AsyncClient, session: Session, accounts: list[str]
    ) -> None:
        self.url = api_url.replace("http", "ws", 1) + "/api/v1/ws"
        self.http = http
        self.session = session
        self.accounts = accounts
        self.shown: dict[str, tuple[int, int]] = {}  # account -> (version, balance)
        self.connects = 0
        self.stale: list[str] = []  # messages at or below a version already shown

    async def run_forever(self) -> None:
        while True:
            token = self.session.token
            code = await self._one_connection(token)
            if code == CLOSE_UNAUTHORIZED:
                with contextlib.suppress(httpx.HTTPError):
                    await self.session.sign_in(self.http, stale=token)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _one_connection(self, token: str) -> int | None:
        """Show what one connection sends until it closes; returns its close code."""
        try:
            async with connect(f"{self.url}?token={token}", open_timeout=5) as ws:
                self.connects += 1
                versions = {a: v for a, (v, _) in self.shown.items()}
                hello = {"type": "Hello", "last_versions": versions}
                await ws.send(_encoder.encode(hello).decode())  # a text frame
                async for raw in ws:
                    self._show(msgspec.json.decode(raw))
                return ws.close_code
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None
        except (OSError, TimeoutError, WebSocketException):
            return None

    def _show(self, msg: dict[str, Any]) -> None:
        if msg.get("type") != "BalanceChanged":
            return
        account, version = msg["account_id"], msg["version"]
        shown = self.shown.get(account, (0, 0))[0]
        if version <= shown:
            self.stale.append(f"{account}: version {version} after {shown}")
            return
        self.shown[account] = (version, msg["balance"]["amount"])
