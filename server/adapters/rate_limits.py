"""Counters in Redis for abuse resistance, each one atomic Lua script.

- ``FailureLock``: count failures per subject within a window; at the limit the
  subject is locked out for a while (sign-in lockout per account and per IP).
- ``LeasedTokenBucket``: a sustained rate with a burst, shared through Redis and
  taken in leases of several tokens that a process then spends locally (the
  per-user money rate limit; docs/adr/0301-rate-limit-leases.md).

Every API process shares them through Redis, so limits hold across processes.
"""

from __future__ import annotations

import asyncio
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

_LEASE = """
local t = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local rate, burst, now, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
    tonumber(ARGV[4])
local tokens, ts = tonumber(t[1]), tonumber(t[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local granted = math.min(want, math.floor(tokens))
local wait = 0
if granted >= 1 then tokens = tokens - granted else granted = 0; wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {granted, tostring(wait)}
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


class LeasedTokenBucket:
    """A token bucket per subject shared by every API process through Redis, without
    a Redis round trip per request: a process takes a *lease* of up to ``lease``
    tokens in one atomic script and spends them locally until they run out or
    ``lease_seconds`` pass (an unspent lease is dropped, never returned).

    What a limit means with several processes: tokens leave the shared bucket
    before they are spent, so all processes together never admit more than
    ``rate``/``burst`` allow; a subject may be refused early by at most
    ``lease - 1`` tokens per other process holding an unspent lease of theirs.
    With ``burst`` small enough that ``lease`` is 1, every take is exact.

    Without Redis the process falls back to a bucket of its own (``rate``/``burst``
    per process): money movements stay limited, by at most the process count
    times the limit, instead of failing because a counter is unreachable.
    """

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        rate: float,
        burst: int,
        *,
        lease_seconds: float = 1.0,
        max_subjects: int = 100_000,
    ) -> None:
        self._redis = client
        self._name = name
        self._rate, self._burst = rate, burst
        # A twentieth of the burst, at most a second of the sustained rate.
        self.lease = max(1, min(burst // 20, math.ceil(rate)))
        self._lease_seconds = lease_seconds
        self._max_subjects = max_subjects
        self._lease_script = client.register_script(_LEASE)
        self._leases: dict[str, tuple[float, int]] = {}  # subject -> (expires, tokens left)
        # subject -> the lease being taken: its outcome (refused: the wait; else None)
        self._renewals: dict[str, asyncio.Future[float | None]] = {}
        self._local = LocalTokenBucket(rate, burst, max_subjects=max_subjects)

    async def take(self, subject: str) -> float:
        """Take one token; return 0 when allowed, else the seconds to wait for one.

        One lease at a time per subject: requests that find the lease spent while
        another one is being taken wait for it and spend from it. (Each taking its
        own drew the shared bucket dry and kept only the last grant: a user's burst
        of concurrent requests was refused with most of the tokens still unspent.)"""
        while True:
            now = time.monotonic()
            expires, left = self._leases.get(subject, (0.0, 0))
            if left > 0 and expires > now:
                self._leases[subject] = (expires, left - 1)
                return 0.0
            renewal = self._renewals.get(subject)
            if renewal is None:
                break
            refused = await asyncio.shield(renewal)
            if refused is not None:
                return refused  # the shared bucket is empty for now: so for us too
        renewal = asyncio.get_running_loop().create_future()
        self._renewals[subject] = renewal
        outcome: float | None = None
        try:
            wait = await self._renew(subject, now)
            outcome = wait if wait > 0 else None
            return wait
        finally:
            del self._renewals[subject]
            renewal.set_result(outcome)

    async def _renew(self, subject: str, now: float) -> float:
        """A new lease from the shared bucket, one token of it taken; else the wait."""
        try:
            granted, wait = await self._lease_script(
                keys=[f"bank:bucket:{self._name}:{subject}"],
                args=[repr(self._rate), self._burst, repr(time.time()), self.lease],
            )
        except (redis.ConnectionError, redis.TimeoutError):
            return self._local.take(subject, now)
        granted = int(granted)
        if granted < 1:
            return float(wait)
        if len(self._leases) >= self._max_subjects:
            self._leases.clear()
        self._leases[subject] = (now + self._lease_seconds, granted - 1)
        return 0.0


class LocalTokenBucket:
    """A token bucket per subject in this process only (the fallback without Redis)."""

    def __init__(self, rate: float, burst: int, *, max_subjects: int = 100_000) -> None:
        self._rate, self._burst = rate, burst
        self._max_subjects = max_subjects
        self._buckets: dict[str, tuple[float, float]] = {}  # subject -> (tokens, at)

    def take(self, subject: str, now: float) -> float:
        tokens, at = self._buckets.get(subject, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + max(0.0, now - at) * self._rate)
        if tokens >= 1:
            wait, tokens = 0.0, tokens - 1
        else:
            wait = (1 - tokens) / self._rate
        if len(self._buckets) >= self._max_subjects and subject not in self._buckets:
            self._buckets.clear()
        self._buckets[subject] = (tokens, now)
        return wait
