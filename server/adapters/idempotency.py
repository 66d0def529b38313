"""Idempotency keys: the first answer to a command, replayed for a retry."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg
import msgspec

# A refused command (422) is stored under its key as this, and replayed as the same refusal.
REJECTED_STATUS = 422


class Rejection(msgspec.Struct):
    code: str
    message: str


_encoder = msgspec.json.Encoder()
_rejection_decoder = msgspec.json.Decoder(Rejection)


def request_hash(command: str, body: msgspec.Struct) -> bytes:
    """What a key is bound to: the command (with its target) and the canonical body.
    POST /transfers and the batch endpoint hash the same, so they replay each other."""
    return hashlib.sha256(command.encode() + b"\n" + _encoder.encode(body)).digest()


def encode_rejection(code: str, message: str) -> bytes:
    return _encoder.encode(Rejection(code=code, message=message))


def decode_rejection(body: bytes) -> Rejection:
    return _rejection_decoder.decode(body)


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    scope: str  # the caller: a key is unique per user
    key: str
    request_hash: bytes  # what the command asked, so a reused key with another body is caught


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: bytes
    status_code: int
    body: bytes


async def find(
    conn: asyncpg.Connection | asyncpg.Pool, idem: IdempotencyKey
) -> StoredResponse | None:
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response_body FROM idempotency_keys"
        " WHERE scope = $1 AND key = $2",
        idem.scope,
        idem.key,
    )
    if row is None:
        return None
    return StoredResponse(row["request_hash"], row["status_code"], row["response_body"])


async def save(
    conn: asyncpg.Connection, idem: IdempotencyKey, status_code: int, body: bytes
) -> bool:
    """Store the answer; False if the key was taken meanwhile (the caller rolls back)."""
    done = await conn.fetchval(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
        idem.scope,
        idem.key,
        idem.request_hash,
        status_code,
        body,
    )
    return bool(done)
