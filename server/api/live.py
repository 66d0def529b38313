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
3. Then live messages from the projection worker (``BalanceChanged``,
   ``AccountStatusChanged``, ``AccountNameChanged`` after a rename), through Redis pub/sub
   (litestar.channels), so every API process serves every customer. A message
   at or below a version already sent on this socket is not sent again.
   ``Ping`` is answered by ``Pong``.
4. Pub/sub keeps nothing for a subscriber that is away: whenever this process
   has subscribed again after losing Redis, the socket is sent what it missed,
   read from the read models as in 2 (docs/adr/0361).
5. The catch-up in 2 is read once Redis has confirmed the subscription, so nothing
   published between the read and the subscription is lost (docs/adr/0364).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Iterable
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Litestar, WebSocket, websocket
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.exceptions import WebSocketDisconnect
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import RedisError

from server.api.bootstrap import services_of
from server.api.errors import unavailable_reason
from server.api.security import SESSION_ENDED_DETAIL, SESSION_REVOKED, authenticate_access_token
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
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455: the server is overloaded or a dependency is down
CLOSE_BAD_MESSAGE = 4400
CLOSE_HELLO_TIMEOUT = 4408
# An open socket outlives its access token; the session is what keeps it open.
# Every few seconds the session is checked again, so signing out (or revoking
# the session from another device) closes the feed too.
SESSION_RECHECK_SECONDS = 2.0
PUBSUB_RETRY_SECONDS = 0.5
# How long a new subscriber waits for Redis to confirm its channels before reading its
# catch-up anyway (Redis slow to answer; a lost connection is made up by ``resumed``).
CONFIRM_SECONDS = 1.0

_client_decoder = msgspec.json.Decoder(ClientMessage)
HELLO_EXAMPLE = '{"type": "Hello", "token": "<access token>", "last_versions": {}}'


def decode_message(text: str) -> tuple[ClientMessage | None, str]:
    """A client's message, or None and the words of an ``invalid_message`` error: what
    was wrong, and what a message of this protocol looks like."""
    if not text:  # a binary frame reads as no text
        return None, f"Send JSON in text frames, like {HELLO_EXAMPLE}."
    try:
        return _client_decoder.decode(text), ""
    except msgspec.DecodeError as exc:
        return (
            None,
            f"The message is not one of this feed's ({exc}); Hello looks like {HELLO_EXAMPLE}.",
        )


_server_decoder = msgspec.json.Decoder(ServerMessage)
_encoder = msgspec.json.Encoder()


class ResumingPubSubBackend(RedisChannelsPubSubBackend):
    """Litestar's Redis pub/sub backend, except that losing Redis does not end
    the stream of events, and that what the stream missed meanwhile is told.

    - The pushes pause while Redis is down and resume by themselves once it is back
      (redis-py's PubSub subscribes its channels again when it reconnects). Without
      this, the plugin's one reader task dies with the first connection error and
      this API process never pushes again.
    - Pub/sub keeps nothing for a subscriber that is away: what was published
      between the connection's loss and Redis confirming the subscriptions again is
      gone. So once Redis has confirmed them after a reconnection, ``resumed()``
      returns to whoever waits on it, and they make up for the gap from the read
      models (the projection worker publishes only what it has committed).
    - ``subscribe`` returns once the SUBSCRIBE is sent, not answered; ``confirmed()``
      waits until Redis has answered it, so what is published after that reaches this
      process (docs/adr/0364)."""

    def __init__(self, *, redis: Redis) -> None:
        super().__init__(redis=redis)
        self._resumed = asyncio.Event()
        self._reconnected = False  # since the subscriptions were last confirmed
        self._watched: Connection | None = None
        # Per channel, one event per SUBSCRIBE sent and not yet confirmed, in order.
        self._unconfirmed: dict[str, deque[asyncio.Event]] = {}
        # SUBSCRIBE and UNSUBSCRIBE are sent one at a time (see ``subscribe``).
        self._commands = asyncio.Lock()

    async def subscribe(self, channels: Iterable[str]) -> None:
        # One at a time: redis-py's PubSub opens its connection in the first command
        # sent, and concurrent first commands each opened one and kept the last, so
        # the others' SUBSCRIBEs went out on connections nobody reads.
        async with self._commands:
            await self._subscribe(channels)

    async def _subscribe(self, channels: Iterable[str]) -> None:
        expected = {channel: asyncio.Event() for channel in channels}
        for channel, answered in expected.items():
            self._unconfirmed.setdefault(channel, deque()).append(answered)
        try:
            await super().subscribe(list(expected))
        except BaseException:
            # Not sent: no answer will come for these, nor release a later SUBSCRIBE's.
            for channel, answered in expected.items():
                self._forget(channel, answered)
            raise
        connection = self._pub_sub.connection
        if connection is not None and connection is not self._watched:
            # Called on every connect after this one: each is a reconnection.
            connection.register_connect_callback(self._on_reconnect)
            self._watched = connection

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        async with self._commands:
            await super().unsubscribe(channels)

    async def _on_reconnect(self, connection: Connection) -> None:
        self._reconnected = True

    async def resumed(self) -> None:
        """Return at the next confirmation of the subscriptions after a reconnection."""
        await self._resumed.wait()

    async def confirmed(self, channels: Iterable[str], timeout: float = CONFIRM_SECONDS) -> bool:
        """Return once Redis has confirmed every SUBSCRIBE sent so far for ``channels``
        (at once for those confirmed before); False if it took longer than ``timeout``."""
        waits = [q[-1].wait() for c in channels if (q := self._unconfirmed.get(c))]
        if not waits:
            return True
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            return False
        return True

    def _forget(self, channel: str, answered: asyncio.Event) -> None:
        pending = self._unconfirmed.get(channel)
        if pending is not None and answered in pending:
            pending.remove(answered)
            if not pending:
                del self._unconfirmed[channel]

    def _confirm(self, channel: str) -> None:
        """Redis answered the oldest SUBSCRIBE of ``channel`` not answered yet (after a
        reconnection, redis-py's SUBSCRIBE again answers one that was lost)."""
        pending = self._unconfirmed.get(channel)
        if pending:
            pending.popleft().set()
            if not pending:
                del self._unconfirmed[channel]

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        while True:
            try:
                async for item in self._events():
                    yield item
            except (RedisError, OSError) as exc:
                log.warning("live feed paused: Redis unavailable (%s)", exc)
                self._reconnected = True
                await asyncio.sleep(PUBSUB_RETRY_SECONDS)

    async def _events(self) -> AsyncGenerator[tuple[str, Any], None]:
        """Litestar's loop (RedisChannelsPubSubBackend.stream_events), except that
        it reads the confirmations of subscriptions too."""
        while True:
            await self._has_subscribed.wait()
            message = await self._pub_sub.get_message(timeout=self._stream_sleep_no_subscriptions)
            if message is None:
                continue
            if message["type"] == "subscribe":
                self._confirm(message["channel"].decode())
                if self._reconnected:
                    self._reconnected = False
                    resumed, self._resumed = self._resumed, asyncio.Event()
                    resumed.set()
                continue
            if message["type"] != "message":
                continue
            channel: str = message["channel"].decode()
            # A message can still arrive for a channel being unsubscribed.
            subscribed = self._pub_sub.channels.keys() - self._pub_sub.pending_unsubscribe_channels
            if channel.encode() in subscribed:
                yield channel, message["data"]


class LiveChannels(ChannelsPlugin):
    """The channels plugin on a ResumingPubSubBackend; the WebSocket feed and the
    GraphQL subscription wait on ``resumed()`` to make up for what pub/sub lost."""

    def __init__(self, redis: Redis) -> None:
        self.feed = ResumingPubSubBackend(redis=redis)
        super().__init__(backend=self.feed, arbitrary_channels_allowed=True)

    async def resumed(self) -> None:
        await self.feed.resumed()

    async def subscribe(
        self, channels: str | Iterable[str], history: int | None = None
    ) -> Subscriber:
        """A subscriber whose channels Redis has confirmed (for at most CONFIRM_SECONDS):
        a catch-up read after this misses nothing published before it."""
        names = [channels] if isinstance(channels, str) else list(channels)
        subscriber = await super().subscribe(names, history)
        if not await self.feed.confirmed(names):
            log.warning("Redis did not confirm a live subscription in %.1f s", CONFIRM_SECONDS)
        return subscriber


def channels_plugin(redis: Redis) -> LiveChannels:
    """Redis pub/sub fan-out; the worker PUBLISHes on bank.live.user.{owner}."""
    return LiveChannels(redis)


async def _authenticate(app: Litestar, token: str | None) -> Actor | None:
    # The HTTP check, session revocation included (server/api/security.py).
    return await authenticate_access_token(app, token)


class SentVersions(dict[UUID, int]):
    """Per account, the newest version one feed has sent (or its client had): a
    message at or below it is not sent again (the WebSocket feed, the GraphQL
    subscription)."""

    def take(self, account_id: UUID, version: int) -> bool:
        """Whether a message of ``version`` is to be sent; it is then the newest."""
        if version <= self.get(account_id, 0):
            return False
        self[account_id] = version
        return True


class _Session:
    """What this socket has sent, per account, to never step back a version."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        last_versions: dict[UUID, int],
        db: asyncpg.Pool,
    ) -> None:
        self.socket = socket
        self.db = db  # what the catch-up reads the other accounts' numbers from
        self.balance_sent = SentVersions(last_versions)
        self.status_sent = SentVersions(last_versions)
        # A catch-up and the live messages take turns: a live message newer than the
        # postings a catch-up is reading would otherwise make the socket drop them.
        self._turn = asyncio.Lock()

    async def send(self, msg: ServerMessage) -> None:
        await self.socket.send_text(_encoder.encode(msg).decode())

    async def offer(self, msg: ServerMessage) -> None:
        if isinstance(msg, BalanceChanged):
            if not self.balance_sent.take(msg.account_id, msg.version):
                return
        elif isinstance(msg, AccountStatusChanged):
            if not self.status_sent.take(msg.account_id, msg.version):
                return
        await self.send(msg)

    async def catch_up(self, owner_id: UUID) -> None:
        async with self._turn:
            for msg in await missed_messages(self.db, owner_id, self.balance_sent):
                await self.offer(msg)

    async def catch_up_after_gaps(self, channels: LiveChannels, owner_id: UUID) -> None:
        """Whenever the pub/sub subscriber was away, send what it missed."""
        while True:
            await channels.resumed()
            await self.catch_up(owner_id)

    async def forward(self, events: Any) -> None:
        async for raw in events:
            try:
                msg = _server_decoder.decode(raw)
            except msgspec.DecodeError:
                log.warning("dropping an undecodable live message")
                continue
            async with self._turn:
                await self.offer(msg)
            if isinstance(msg, BalanceChanged) and msg.transaction is not None:
                observe_push(msg.transaction.occurred_at)  # commit -> push latency

    async def watch_session(self, app: Litestar, actor: Actor) -> None:
        sessions = services_of(app).sessions
        while True:
            await asyncio.sleep(SESSION_RECHECK_SECONDS)
            if actor.session_id is not None and await sessions.is_active(actor.session_id):
                continue
            await self.send(Error(code=SESSION_REVOKED, detail=SESSION_ENDED_DETAIL))
            await self.socket.close(code=CLOSE_UNAUTHORIZED, reason="session revoked")
            return

    async def answer(self) -> None:
        while True:
            msg, detail = decode_message(await self.socket.receive_text())
            if msg is None:
                await self.send(Error(code="invalid_message", detail=detail))
                continue
            if isinstance(msg, Ping):
                await self.send(Pong())


async def _hello(socket: WebSocket[Any, Any, Any]) -> Hello | None:
    try:
        text = await asyncio.wait_for(socket.receive_text(), HELLO_TIMEOUT_SECONDS)
    except TimeoutError:
        await socket.close(code=CLOSE_HELLO_TIMEOUT, reason="send Hello first")
        return None
    msg, detail = decode_message(text)
    if isinstance(msg, Hello):
        return msg
    if msg is not None:
        detail = f"The first message must be Hello, like {HELLO_EXAMPLE}."
    await socket.send_text(_encoder.encode(Error(code="invalid_message", detail=detail)).decode())
    await socket.close(code=CLOSE_BAD_MESSAGE, reason="expected Hello")
    return None


@websocket("/api/v1/ws", opt={"exclude_from_auth": True})
async def live_socket(socket: WebSocket[Any, Any, Any], channels: LiveChannels) -> None:
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
        session = _Session(socket, hello.last_versions, services_of(socket.app).ctx.pool)
        await session.send(Welcome(user_id=actor.user_id))
        # Subscribe before reading the catch-up state: whatever is published
        # meanwhile waits in the subscriber and is deduplicated by version.
        async with channels.start_subscription([live_channel(actor.user_id)]) as subscriber:
            await session.catch_up(actor.user_id)
            tasks = [
                asyncio.create_task(session.forward(subscriber.iter_events())),
                asyncio.create_task(session.answer()),
                asyncio.create_task(session.watch_session(socket.app, actor)),
                asyncio.create_task(session.catch_up_after_gaps(channels, actor.user_id)),
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
    except Exception as exc:
        # A dependency that is down (Redis, PostgreSQL) is "try again later", as over
        # HTTP (server/api/errors.py), not an internal error: the app reconnects.
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        log.warning("live socket closed, %s unavailable: %r", reason, exc)
        err = Error(code="unavailable", detail="The bank is briefly unavailable; reconnect.")
        with contextlib.suppress(Exception):
            await socket.send_text(_encoder.encode(err).decode())
            await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason="unavailable")
