"""Idempotency keys: what a key is bound to, and how a stored answer is replayed.

The one place for the request hash and the stored-rejection format; the SQL that
keeps keys lives in the unit of work (server/adapters/postgres/unit_of_work.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

# A refused command (422) is stored under its key as this, and replayed as the same refusal.
REJECTED_STATUS = 422


class Rejection(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    # What may still leave the account today, for a limit refusal (issue #17): replayed
    # as the first answer said it. Left out of other refusals (older ones decode as before).
    remaining_today: int | None = None


_encoder = msgspec.json.Encoder()
_rejection_decoder = msgspec.json.Decoder(Rejection)


def request_hash(command: str, body: msgspec.Struct) -> bytes:
    """What a key is bound to: the command (with its target) and the canonical body.
    POST /transfers and the batch endpoint hash the same, so they replay each other.

    Optional fields left out (None) are not hashed, so a field added later with a
    None default (``currency``) leaves the hash of every older request unchanged."""
    fields: dict[str, Any] = msgspec.to_builtins(body)
    canonical = {k: v for k, v in fields.items() if v is not None}
    return hashlib.sha256(command.encode() + b"\n" + _encoder.encode(canonical)).digest()


def encode_rejection(code: str, message: str, remaining_today: int | None = None) -> bytes:
    return _encoder.encode(Rejection(code=code, message=message, remaining_today=remaining_today))


def decode_rejection(body: bytes) -> Rejection:
    return _rejection_decoder.decode(body)


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    scope: str  # the caller: a key is unique per user
    key: str
    request_hash: bytes  # what the command asked, so a reused key with another body is caught

    @property
    def ident(self) -> tuple[str, str]:
        return (self.scope, self.key)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: bytes
    status_code: int
    body: bytes
