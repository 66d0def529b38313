"""WS /api/v1/ws: live balances for the signed-in customer's accounts.

Protocol (JSON messages of shared.messages, tagged by "type"):
1. The client connects and sends ``Hello`` first (within 10 s). The bearer
   access token goes either in the URL (``/api/v1/ws?token=<jwt>``) or in
   ``Hello.token``; the URL wins when both are given. ``Hello.last_versions``
   maps account id -> last stream version the client has seen.
2. The server answers ``Welcome`` (or ``Error`` + close 4401 on a bad token),
   then catch-up: for each of the user's accounts whose version is above what
   the client has, the missed postings oldest first (up to the newest 200; older
   ones are in GET /transactions) as ``BalanceChanged`` with the posting, then
   ``BalanceChanged`` with the current balance and ``AccountStatusChanged``.
3. Then live messages from the projection worker, through Redis pub/sub
   (litestar.channels), so every API process serves every customer. A message
   at or below a version already sent on this socket is not sent again.
   ``Ping`` is answered by ``Pong``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any
from uuid import UUID

import msgspec
from litestar import Litestar, WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.exceptions import WebSocketDisconnect
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.api.bootstrap import services_of
from server.api.security import authenticate_access_token
from server.application.context import Actor
from server.observability.metrics import observe_push
from server.queries.live import missed_messages
from server.readmodel.cache import live_channel
from shared.messages import (
    AccountStatusChanged,
    BalanceChanged,
    ClientMessage,
    Error,
    Hello,
    Ping,
    Pong,
    ServerMessage,
    Welcome,
)

log = logging.getLogger("bank.api.live")

HELLO_TIMEOUT_SECONDS = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_MESSAGE = 4400
CLOSE_HELLO_TIMEOUT = 4408
# An open socket outlives its access token; the session is what keeps it open.
# Every few seconds the session is checked again, so signing out (or revoking
# the session from another device) closes the feed too.
SESSION_RECHECK_SECONDS = 2.0
PUBSUB_RETRY_SECONDS = 0.5

_client_decoder = msgspec.json.Decoder(ClientMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)
_encoder = msgspec.json.Encoder()


class ResumingPubSubBackend(RedisChannelsPubSubBackend):
    """Litestar's Redis pub/sub backend, except that losing Redis does not end
    the stream of events: the pushes pause while Redis is down and resume by
    themselves once it is back (redis-py's PubSub subscribes its channels again
    when it reconnects). Without this, the plugin's one reader task dies with
    the first connection error and this API process never pushes again."""

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        while True:
            try:
                async for item in super().stream_events():
                    yield item
            except (RedisError, OSError) as exc:
                log.warning("live feed paused: Redis unavailable (%s)", exc)
                await asyncio.sleep(PUBSUB_RETRY_SECONDS)


def channels_plugin(redis: Redis) -> ChannelsPlugin:
    """Redis pub/sub fan-out; the worker PUBLISHes on bank.live.user.{owner}."""
    backend = ResumingPubSubBackend(redis=redis)
    return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)


async def _authenticate(app: Litestar, token: str | None) -> Actor | None:
    # The HTTP check, session revocation included (server/api/security.py).
    return await authenticate_access_token(app, token)


class _Session:
    """What this socket has sent, per account, to never step back a version."""

    def __init__(self, socket: WebSocket[Any, Any, Any], last_versions: dict[UUID, int]) -> None:
        self.socket = socket
        self.balance_sent = dict(last_versions)
        self.status_sent = dict(last_versions)

    async def send(self, msg: ServerMessage) -> None:
        await self.socket.send_text(_encoder.encode(msg).decode())

    async def offer(self, msg: ServerMessage) -> None:
        if isinstance(msg, BalanceChanged):
            if msg.version <= self.balance_sent.get(msg.account_id, 0):
                return
            self.balance_sent[msg.account_id] = msg.version
        elif isinstance(msg, AccountStatusChanged):
            if msg.version <= self.status_sent.get(msg.account_id, 0):
                return
            self.status_sent[msg.account_id] = msg.version
        await self.send(msg)

    async def catch_up(self, owner_id: UUID) -> None:
        for msg in await missed_messages(owner_id, self.balance_sent):
            await self.offer(msg)

    async def forward(self, events: Any) -> None:
        async for raw in events:
            try:
                msg = _server_decoder.decode(raw)
            except msgspec.DecodeError:
                log.warning("dropping an undecodable live message")
                continue
            await self.offer(msg)
            if isinstance(msg, BalanceChanged) and msg.transaction is not None:
                observe_push(msg.transaction.occurred_at)  # commit -> push latency

    async def watch_session(self, app: Litestar, actor: Actor) -> None:
        sessions = services_of(app).sessions
        while True:
            await asyncio.sleep(SESSION_RECHECK_SECONDS)
            if actor.session_id is not None and await sessions.is_active(actor.session_id):
                continue
            await self.send(
                Error(code="session_revoked", detail="This session was signed out; sign in again.")
            )
            await self.socket.close(code=CLOSE_UNAUTHORIZED, reason="session revoked")
            return

    async def answer(self) -> None:
        while True:
            text = await self.socket.receive_text()
            try:
                msg = _client_decoder.decode(text)
            except msgspec.DecodeError as exc:
                await self.send(Error(code="invalid_message", detail=str(exc)))
                continue
            if isinstance(msg, Ping):
                await self.send(Pong())


async def _hello(socket: WebSocket[Any, Any, Any]) -> Hello | None:
    try:
        text = await asyncio.wait_for(socket.receive_text(), HELLO_TIMEOUT_SECONDS)
    except TimeoutError:
        await socket.close(code=CLOSE_HELLO_TIMEOUT, reason="send Hello first")
        return None
    try:
        msg = _client_decoder.decode(text)
    except msgspec.DecodeError as exc:
        msg = None
        detail = str(exc)
    else:
        detail = "the first message must be Hello"
    if not isinstance(msg, Hello):
        await socket.send_text(
            _encoder.encode(Error(code="invalid_message", detail=detail)).decode()
        )
        await socket.close(code=CLOSE_BAD_MESSAGE, reason="expected Hello")
        return None
    return msg


@websocket("/api/v1/ws", opt={"exclude_from_auth": True})
async def live_socket(socket: WebSocket[Any, Any, Any], channels: ChannelsPlugin) -> None:
    await socket.accept()
    try:
        hello = await _hello(socket)
        if hello is None:
            return
        actor = await _authenticate(socket.app, socket.query_params.get("token") or hello.token)
        if actor is None:
            err = Error(
                code="unauthorized", detail="Send a valid access token (?token= or Hello.token)."
            )
            await socket.send_text(_encoder.encode(err).decode())
            await socket.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
            return
        session = _Session(socket, hello.last_versions)
        await session.send(Welcome(user_id=actor.user_id))
        # Subscribe before reading the catch-up state: whatever is published
        # meanwhile waits in the subscriber and is deduplicated by version.
        async with channels.start_subscription([live_channel(actor.user_id)]) as subscriber:
            await session.catch_up(actor.user_id)
            tasks = [
                asyncio.create_task(session.forward(subscriber.iter_events())),
                asyncio.create_task(session.answer()),
                asyncio.create_task(session.watch_session(socket.app, actor)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    t.result()
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    except WebSocketDisconnect:
        return
