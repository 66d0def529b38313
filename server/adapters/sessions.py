"""The session store in Redis: one session per sign-in, with its refresh-token family.

Keys (all expire with the refresh-token lifetime, renewed on every rotation):
  bank:sess:{sid}        hash: user_id, role, created_at, last_used_at, ip, user_agent,
                         refresh = sha256 of the current refresh token's secret
  bank:sess:{sid}:used   set of the sha256 of every refresh token already rotated away
  bank:user-sess:{uid}   set of the user's session ids (pruned lazily)

A refresh token is ``{sid}.{secret}``: opaque to clients; only its hash is stored.
Rotation is one Lua script, so of two concurrent uses of one token exactly one
rotates and the other is seen as reuse, which deletes the whole session.
A revoked session is deleted: a session id that is not found is not active.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import redis.asyncio as redis

_PREFIX = "bank:sess:"
_USER_PREFIX = "bank:user-sess:"

_ROTATE = """
local s = redis.call('HMGET', KEYS[1], 'refresh', 'user_id', 'role')
if not s[1] then return {'missing'} end
if s[1] == ARGV[1] then
    redis.call('HSET', KEYS[1], 'refresh', ARGV[2], 'last_used_at', ARGV[3],
               'ip', ARGV[5], 'user_agent', ARGV[6])
    redis.call('SADD', KEYS[2], ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    redis.call('EXPIRE', KEYS[2], ARGV[4])
    return {'ok', s[2], s[3]}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
    redis.call('DEL', KEYS[1], KEYS[2])
    return {'reused', s[2], s[3]}
end
return {'invalid'}
"""

RotateStatus = Literal["ok", "reused", "invalid", "missing"]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    user_id: UUID
    role: str
    created_at: float
    last_used_at: float
    ip: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class Rotation:
    status: RotateStatus
    session_id: str
    user_id: UUID | None = None
    role: str | None = None
    refresh_token: str | None = None  # the new one, when status == "ok"


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_refresh_token(token: str) -> tuple[str, str] | None:
    sid, dot, secret = token.partition(".")
    if not dot or not sid or not secret or len(token) > 200:
        return None
    return sid, secret


class SessionStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._rotate = client.register_script(_ROTATE)

    async def create(self, user_id: UUID, role: str, ip: str, user_agent: str) -> tuple[str, str]:
        """Start a session; return (session id, refresh token)."""
        sid = uuid.uuid4().hex
        secret = secrets.token_urlsafe(32)
        now = str(time.time())
        key = _PREFIX + sid
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "user_id": str(user_id),
                    "role": role,
                    "created_at": now,
                    "last_used_at": now,
                    "ip": ip,
                    "user_agent": user_agent[:256],
                    "refresh": _hash(secret),
                },
            )
            pipe.expire(key, self._ttl)
            pipe.sadd(_USER_PREFIX + str(user_id), sid)
            pipe.expire(_USER_PREFIX + str(user_id), self._ttl)
            await pipe.execute()
        return sid, f"{sid}.{secret}"

    async def rotate(self, refresh_token: str, ip: str, user_agent: str) -> Rotation:
        parts = split_refresh_token(refresh_token)
        if parts is None:
            return Rotation("invalid", "")
        sid, secret = parts
        new_secret = secrets.token_urlsafe(32)
        key = _PREFIX + sid
        raw = await self._rotate(
            keys=[key, key + ":used"],
            args=[
                _hash(secret),
                _hash(new_secret),
                str(time.time()),
                self._ttl,
                ip,
                user_agent[:256],
            ],
        )
        status: str = raw[0].decode()
        if status in ("ok", "reused"):
            user_id, role = UUID(raw[1].decode()), raw[2].decode()
            if status == "reused":
                await self._redis.srem(_USER_PREFIX + str(user_id), sid)
                return Rotation("reused", sid, user_id, role)
            await self._redis.expire(_USER_PREFIX + str(user_id), self._ttl)
            return Rotation("ok", sid, user_id, role, f"{sid}.{new_secret}")
        if status == "missing":
            return Rotation("missing", sid)
        return Rotation("invalid", sid)  # the script's one other answer

    async def exists(self, sid: str) -> bool:
        return bool(await self._redis.exists(_PREFIX + sid))

    async def get(self, sid: str) -> SessionRecord | None:
        raw = await self._redis.hgetall(_PREFIX + sid)
        if not raw:
            return None
        h = {_str(k): _str(v) for k, v in raw.items()}
        return SessionRecord(
            id=sid,
            user_id=UUID(h["user_id"]),
            role=h.get("role", "customer"),
            created_at=float(h.get("created_at", 0)),
            last_used_at=float(h.get("last_used_at", 0)),
            ip=h.get("ip", ""),
            user_agent=h.get("user_agent", ""),
        )

    async def list_for_user(self, user_id: UUID) -> list[SessionRecord]:
        sids = sorted(_str(s) for s in await self._redis.smembers(_USER_PREFIX + str(user_id)))
        found, gone = [], []
        for sid in sids:
            record = await self.get(sid)
            if record is None:
                gone.append(sid)
            elif record.user_id == user_id:
                found.append(record)
        if gone:
            await self._redis.srem(_USER_PREFIX + str(user_id), *gone)
        return sorted(found, key=lambda r: r.created_at)

    async def delete(self, sid: str, user_id: UUID) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(_PREFIX + sid, _PREFIX + sid + ":used")
            pipe.srem(_USER_PREFIX + str(user_id), sid)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def delete_all(self, user_id: UUID) -> list[str]:
        sids = [_str(s) for s in await self._redis.smembers(_USER_PREFIX + str(user_id))]
        if sids:
            keys = [_PREFIX + s for s in sids] + [_PREFIX + s + ":used" for s in sids]
            await self._redis.delete(*keys, _USER_PREFIX + str(user_id))
        return sids
