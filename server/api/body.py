"""Strict request decoding at the edge.

Litestar converts bodies in msgspec's lax mode (a string "100" or 100.0 would
become the integer 100). Money must not be guessed at, so bodies are decoded
here in strict mode: wrong types, floats and strings as amounts, unknown
fields and out-of-range numbers are all a 400 that names the field.

Handlers still declare ``data: <Struct>`` so that the OpenAPI schema documents
the body; the strict decode below is what the handler then uses.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time
from typing import TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ClientException

from runtime.observability import context as obs
from server.api.errors import INVALID_BODY, INVALID_BODY_DETAIL, MALFORMED_JSON, plain_words
from server.application.context import Actor
from server.application.idempotency import IdempotencyKey, request_hash
from shared.api import IDEMPOTENCY_KEY
from shared.events import EventMetadata

T = TypeVar("T")

_decoders: dict[type, msgspec.json.Decoder] = {}
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


class BadRequestError(ClientException):
    """400 with a code; raised for anything malformed a client sent."""

    def __init__(self, detail: str, code: str = "invalid_request") -> None:
        super().__init__(detail=detail, extra={"code": code})
        self.code = code


async def decode_body(request: Request, type_: type[T]) -> T:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    raw = await request.body()
    if not raw:
        raise BadRequestError("The request needs a JSON body.", INVALID_BODY)
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise BadRequestError(
            f"{INVALID_BODY_DETAIL}: {plain_words(str(exc))}", INVALID_BODY
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"The body is not valid JSON: {exc}", MALFORMED_JSON) from None


def parse_uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadRequestError(f"{name} must be a UUID, got {value[:64]!r}.", "invalid_id") from None


# The days a query can name. Nothing is older than the first (the bank did not exist)
# and the last leaves room for the day after it: Python's and PostgreSQL's dates end
# at 9999-12-31, and a date-time in another zone can cross either end.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)
EARLIEST = datetime.combine(FIRST_DAY, time(), UTC)
LATEST = datetime.combine(LAST_DAY, time(), UTC)


def within_calendar(at: datetime) -> datetime:
    """A bound of a search moved to EARLIEST or LATEST when it lies beyond: it selects
    the same rows (there are none out there) and PostgreSQL can take it."""
    return min(max(at, EARLIEST), LATEST)


def parse_instant(value: str, name: str) -> datetime:
    """An ISO 8601 date-time (``2026-11-30T09:00:00Z``); without an offset it is UTC.
    Plain numbers are refused: they are not a time a person means."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestError(
            f"{name} must be an ISO 8601 date-time like 2026-11-30T09:00:00Z, got {value[:64]!r}.",
            "invalid_date_time",
        ) from None
    return within_calendar(at if at.tzinfo is not None else at.replace(tzinfo=UTC))


def idempotency_key(
    request: Request, actor: Actor, command: str, body: msgspec.Struct, *, required: bool = True
) -> IdempotencyKey | None:
    given = request.headers.getall(IDEMPOTENCY_KEY, ())
    if len(given) > 1:  # which one would be meant? A retry with the other is a new command
        raise BadRequestError(
            f"Send one Idempotency-Key header; this request has {len(given)}.",
            "invalid_idempotency_key",
        )
    key = given[0] if given else None
    if key is None:
        if required:
            raise BadRequestError(
                "Money-moving requests need an Idempotency-Key header (a UUID you generate once"
                " per operation and reuse on retries).",
                "idempotency_key_required",
            )
        return None
    if not _KEY.match(key):
        raise BadRequestError(
            "The Idempotency-Key must be 1 to 255 visible ASCII characters.",
            "invalid_idempotency_key",
        )
    return IdempotencyKey(
        scope=str(actor.user_id), key=key, request_hash=request_hash(command, body)
    )


def event_metadata(request: Request, actor: Actor, idem: IdempotencyKey | None) -> EventMetadata:
    """Who did it, under which key, and the trace it belongs to (W3C traceparent or a new id)."""
    trace_id = None
    tp = request.headers.get("traceparent")
    if tp and (m := _TRACEPARENT.match(tp)):
        trace_id = m.group(1)
    request_id = request.headers.get("x-request-id")
    if request_id is not None and not _KEY.match(request_id):
        request_id = None
    return EventMetadata(
        actor_id=str(actor.user_id),
        idempotency_key=idem.key if idem else None,
        # The request's trace id (its span's, as logged) wins over a re-parse.
        trace_id=obs.current_trace_id() or trace_id or uuid.uuid4().hex,
        request_id=request_id or obs.current_request_id(),
    )
