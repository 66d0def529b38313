"""Kept for importers of the old path (server/api/body.py): the key, its request hash and
the stored-answer format now live in server/application/idempotency.py, and the SQL in
the unit of work (server/adapters/postgres/unit_of_work.py)."""

from server.application.idempotency import (
    REJECTED_STATUS,
    IdempotencyKey,
    Rejection,
    StoredResponse,
    decode_rejection,
    encode_rejection,
    request_hash,
)

__all__ = [
    "REJECTED_STATUS",
    "IdempotencyKey",
    "Rejection",
    "StoredResponse",
    "decode_rejection",
    "encode_rejection",
    "request_hash",
]
