"""Counters in Redis for abuse resistance, each one atomic Lua script.

- ``FailureLock``: count failures per subject within a window; at the limit the
  subject is locked out for a while (sign-in lockout per account and per IP).
- ``TokenBucket``: a sustained rate with a burst (per-user request rate limit).

Every API process shares them through Redis, so limits hold across processes.
"""

from __future__ import annotations

import hashlib
import math
import time

import redis.asyncio as redis

_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
    redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
    redis.call('DEL', KEYS[1])
    return 1
end
return 0
"""

_BUCKET = """
local t = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, ts = tonumber(t[1]), tonumber(t[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


def _subject(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class FailureLock:
    """``max_failures`` within ``window`` seconds lock a subject out for ``lockout`` seconds."""

    def __init__(
        self, client: redis.Redis, name: str, max_failures: int, window: int, lockout: int
    ) -> None:
        self._redis = client
        self._name = name
        self._max, self._window, self._lockout = max_failures, window, lockout
        self._fail = client.register_script(_FAIL)

    def _keys(self, subject: str) -> tuple[str, str]:
        s = _subject(subject)
        return f"bank:fail:{self._name}:{s}", f"bank:lock:{self._name}:{s}"

    async def locked_for(self, subject: str) -> int:
        """Seconds until the lockout ends; 0 when not locked out."""
        ttl = await self._redis.pttl(self._keys(subject)[1])
        return math.ceil(ttl / 1000) if ttl and ttl > 0 else 0

    async def failed(self, subject: str) -> bool:
        """Count a failure; True when it locked the subject out."""
        return bool(
            await self._fail(
                keys=list(self._keys(subject)), args=[self._window, self._max, self._lockout]
            )
        )

    async def succeeded(self, subject: str) -> None:
        await self._redis.delete(self._keys(subject)[0])


class TokenBucket:
    def __init__(self, client: redis.Redis, name: str, rate: float, burst: int) -> None:
        self._redis = client
        self._name = name
        self._rate, self._burst = rate, burst
        self._take = client.register_script(_BUCKET)

    async def take(self, subject: str) -> float:
        """Take one token; return 0 when allowed, else the seconds to wait for one."""
        wait = await self._take(
            keys=[f"bank:bucket:{self._name}:{subject}"],
            args=[repr(self._rate), self._burst, repr(time.time())],
        )
        return float(wait)
