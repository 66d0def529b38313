"""The Redis query cache and live channel names, shared by the API (reads,
fills on a miss) and the projection worker (refreshes after each batch).

- ``bank:q:account:{id}``: the AccountResponse JSON. Written only through a
  version guard (a Lua script), so a slow reader can never put back an older
  balance over a newer one.
- ``bank:q:accounts:{owner}:{gen}``: the owner's AccountList; the worker bumps
  ``bank:q:accounts-gen:{owner}`` on every change, which retires old lists
  without a read-then-delete race.
- ``bank.live.user.{owner}``: pub/sub channel of the owner's ServerMessages.

Redis is a cache here, not a source of truth: when it cannot be reached, a
read is a miss (the caller reads PostgreSQL) and a fill is skipped, and for
``UNAVAILABLE_PAUSE_SECONDS`` after such a failure Redis is not even asked, so
an outage costs the reads one failed connection per pause, not one per
request. The worker's ``refresh_and_publish`` still raises: it logs and goes
on (server/projections/projector.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.settings import Settings
from server.observability.metrics import cache_lookup
from shared.api import AccountList, AccountResponse

log = logging.getLogger("bank.readmodel.cache")

T = TypeVar("T")

ACCOUNT_TTL_SECONDS = 300
# Accounts whose newest read state a process keeps in memory (the oldest goes first).
KEPT_ACCOUNTS = 20_000
LIST_TTL_SECONDS = 60
UNAVAILABLE_PAUSE_SECONDS = 1.0
UNAVAILABLE_ERRORS = (RedisError, OSError)
# A pipeline process waits at most this long for Redis to connect or answer: a Redis
# that hangs must not hold up the read models or the inbox (the cache refresh and the
# pushes are best effort: what failed is refreshed or pushed again later).
PIPELINE_REDIS_TIMEOUT_SECONDS = 2.0

# The version of a cached account (``cur``, the JSON of an AccountResponse), read
# without decoding the whole value: JSON escapes every quote inside a string, so
# '"version":' can only be that key. Decoding each value with cjson cost Redis
# ~2.5 µs an account (docs/adr/0346).
_CACHED_VERSION = """tonumber(string.match(cur, '"version":(%d+)'))"""

_GUARDED_SET = f"""
local cur = redis.call('GET', KEYS[1])
if cur then
  local cached = {_CACHED_VERSION}
  if cached and cached >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""

# The worker's whole batch in one call, as MessagePack: its JSON strings (each cached
# value and message) arrive as they are, where a JSON batch had them escaped and
# cjson unescaped them (docs/adr/0346). Only the cached version is read.
_REFRESH_AND_PUBLISH = f"""
local batch = cmsgpack.unpack(ARGV[1])
local ttl = tonumber(ARGV[2])
for _, item in ipairs(batch['accounts']) do
  local newer = true
  local cur = redis.call('GET', item['key'])
  if cur then
    local cached = {_CACHED_VERSION}
    if cached and cached >= tonumber(item['version']) then
      newer = false
    end
  end
  if newer then
    redis.call('SET', item['key'], item['value'], 'EX', ttl)
  end
  for _, m in ipairs(item['messages']) do
    redis.call('PUBLISH', item['channel'], m)
  end
end
for _, g in ipairs(batch['gens']) do
  redis.call('INCR', g)
end
return #batch['accounts']
"""

# Many live messages in one call: ARGV is channel, message, channel, message, ...
_PUBLISH_ALL = """
for i = 1, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""

_encoder = msgspec.json.Encoder()
_batch_encoder = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class AccountChange:
    """A changed account's new state and the encoded messages for its owner."""

    account: AccountResponse
    messages: list[bytes]


_account_decoder = msgspec.json.Decoder(AccountResponse)
_list_decoder = msgspec.json.Decoder(AccountList)


def account_key(account_id: UUID) -> str:
    return f"bank:q:account:{account_id}"


def accounts_gen_key(owner_id: UUID) -> str:
    return f"bank:q:accounts-gen:{owner_id}"


def accounts_key(owner_id: UUID, gen: int) -> str:
    return f"bank:q:accounts:{owner_id}:{gen}"


def live_channel(owner_id: UUID) -> str:
    return f"bank.live.user.{owner_id}"


def pipeline_redis(settings: Settings) -> Redis:
    """The Redis client of a pipeline process (the projection worker, the notification
    consumer, a rebuild): the settings' URL with the CA file of a ``rediss://`` one,
    and bounded waits. The API builds its own (server/api/bootstrap.py)."""
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=PIPELINE_REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=PIPELINE_REDIS_TIMEOUT_SECONDS,
    )


class LivePublisher:
    """PUBLISHes a batch of live messages in one Redis command, in order (a pipeline
    of one PUBLISH each costs a command and a reply per message)."""

    def __init__(self, redis: Redis) -> None:
        self._publish_all = redis.register_script(_PUBLISH_ALL)

    async def publish_all(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Each (channel, message) in turn; raises what Redis raises."""
        if messages:
            await self._publish_all(args=[part for pair in messages for part in pair])


class QueryCache:
    def __init__(self, redis: Redis, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self._guarded_set = redis.register_script(_GUARDED_SET)
        self._refresh_and_publish = redis.register_script(_REFRESH_AND_PUBLISH)
        self._clock = clock
        self._skip_until = 0.0
        self._kept: dict[UUID, AccountResponse] = {}

    @property
    def available(self) -> bool:
        """False for a short pause after Redis could not be reached."""
        return self._clock() >= self._skip_until

    async def _try(self, what: str, call: Callable[[], Awaitable[T]], otherwise: T) -> T:
        """``call()``, or ``otherwise`` when Redis is unreachable (or was a moment ago)."""
        if not self.available:
            return otherwise
        try:
            return await call()
        except UNAVAILABLE_ERRORS as exc:
            self._skip_until = self._clock() + UNAVAILABLE_PAUSE_SECONDS
            log.warning("Redis unavailable (%s: %s); reading without the cache", what, exc)
            return otherwise

    def kept(self, account_id: UUID) -> AccountResponse | None:
        """The newest state of the account this process has read, if it kept one.
        Only as fresh as the caller proves it: a state is the fold of its stream up to
        its version, so it is the account now exactly when its version is the stream's
        head (server/queries/accounts.py reads the head on every plain read)."""
        return self._kept.get(account_id)

    def keep(self, account: AccountResponse) -> None:
        """Keep ``account`` unless a newer state is kept already."""
        old = self._kept.get(account.id)
        if old is not None and old.version >= account.version:
            return
        if old is None and len(self._kept) >= KEPT_ACCOUNTS:
            del self._kept[next(iter(self._kept))]
        self._kept[account.id] = account

    async def get_account(self, account_id: UUID) -> AccountResponse | None:
        raw = await self._try("get account", lambda: self.redis.get(account_key(account_id)), None)
        cache_lookup("account", raw is not None)
        return _account_decoder.decode(raw) if raw else None

    async def put_account(self, account: AccountResponse) -> None:
        """Cache ``account`` unless a newer version is cached already."""
        await self._try(
            "put account",
            lambda: self._guarded_set(
                keys=[account_key(account.id)],
                args=[_encoder.encode(account), account.version, ACCOUNT_TTL_SECONDS],
            ),
            None,
        )

    async def refresh_and_publish(self, changes: list[AccountChange], owners: list[UUID]) -> None:
        """After a projection batch, in one Redis round trip: version-guarded
        refresh of each changed account, its messages PUBLISHed on the owner's
        channel (in order), and the owners' list generations bumped."""
        batch = {
            "accounts": [
                {
                    "key": account_key(c.account.id),
                    # str, not bytes: Redis' cmsgpack refuses MessagePack's bin types
                    "value": _encoder.encode(c.account).decode(),
                    "version": c.account.version,
                    "channel": live_channel(c.account.owner_id),
                    "messages": [m.decode() for m in c.messages],
                }
                for c in changes
            ],
            "gens": [accounts_gen_key(o) for o in owners],
        }
        await self._refresh_and_publish(args=[_batch_encoder.encode(batch), ACCOUNT_TTL_SECONDS])

    async def list_generation(self, owner_id: UUID) -> int | None:
        """The owner's list generation; None when Redis cannot say."""

        async def read() -> int | None:
            return int(await self.redis.get(accounts_gen_key(owner_id)) or 0)

        return await self._try("list generation", read, None)

    async def get_list(self, owner_id: UUID, gen: int) -> AccountList | None:
        raw = await self._try("get list", lambda: self.redis.get(accounts_key(owner_id, gen)), None)
        cache_lookup("account_list", raw is not None)
        return _list_decoder.decode(raw) if raw else None

    async def put_list(self, owner_id: UUID, gen: int, accounts: AccountList) -> None:
        await self._try(
            "put list",
            lambda: self.redis.set(
                accounts_key(owner_id, gen), _encoder.encode(accounts), ex=LIST_TTL_SECONDS
            ),
            None,
        )

    async def clear(self) -> int:
        """Drop every cached read (after a rebuild)."""
        n = 0
        async for key in self.redis.scan_iter(match="bank:q:*", count=1000):
            n += await self.redis.delete(key)
        return n
