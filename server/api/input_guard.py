"""Input no handler should ever see, refused at the edge with 400 (one place).

A pure ASGI layer inside the observability wrapper, before routing:
- the path and the query string: NUL (``%00``), bytes that are not UTF-8 (which
  is how a lone surrogate arrives percent-encoded), a query string or one value
  longer than any parameter of the API needs, a parameter given twice (every
  parameter of the API takes one value; Litestar would keep the last silently);
- a body in a content coding (``Content-Encoding: gzip``): 415, since the API reads
  bodies as sent and would otherwise call compressed JSON "not UTF-8";
- request bodies, checked as the application reads them (the body-size limit
  still applies first): not UTF-8, NUL or a lone surrogate written as a JSON
  escape (``\\u0000``, ``\\ud800``), NUL in a form body.

PostgreSQL cannot store NUL in text and a lone surrogate cannot be encoded to
UTF-8: before this layer, both reached the database as 500s. JSON nested too
deeply fails the typed decoders at its first level; ``server/api/errors.py``
keeps a net under what slips through (a RecursionError, PostgreSQL refusing a
character) so that it is a 400 too.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec
from litestar.exceptions import ClientException
from litestar.types import HTTPResponseStartEvent

from server.api.errors import TITLE_BY_STATUS
from server.api.headers import security_headers
from shared.api import Problem

MAX_QUERY_BYTES = 8 * 1024
MAX_QUERY_VALUE_CHARS = 1024
_ESCAPE = re.compile(rb"(\\+)u([0-9a-fA-F]{4})")
_FORM = b"application/x-www-form-urlencoded"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BadInputError(ClientException):
    """400: the request carries characters or sizes no field of the API accepts."""

    def __init__(self, detail: str, code: str = "invalid_characters") -> None:
        super().__init__(detail=detail, extra={"code": code})
        self.code = code


def _text_problem(raw: bytes, where: str) -> str | None:
    if b"\x00" in raw:
        return f"The {where} contains a NUL character, which no field accepts."
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"The {where} is not valid UTF-8 (a lone surrogate, or bytes of another encoding)."
    return None


def repeated_parameter(qs: bytes) -> str | None:
    """The words for a query parameter given more than once (``?kind=a&kind=b``), or None.
    An integrator who means both would get the last one's rows and think them all."""
    if b"&" not in qs:
        return None
    seen: set[bytes] = set()
    for part in qs.split(b"&"):
        name = unquote_to_bytes(part.partition(b"=")[0].replace(b"+", b" "))
        if name in seen:
            shown = name[:40].decode("utf-8", "replace")
            return f"Query parameter {shown!r} is given more than once; give it once."
        if name:
            seen.add(name)
    return None


def target_problem(scope: Any) -> str | None:
    """What is wrong with the path or the query string, or None."""
    if "\x00" in scope["path"]:
        return "The path contains a NUL character."
    raw_path: bytes = scope.get("raw_path") or b""
    if b"%" in raw_path and (p := _text_problem(unquote_to_bytes(raw_path), "path")):
        return p
    qs: bytes = scope.get("query_string") or b""
    if not qs:
        return None
    if len(qs) > MAX_QUERY_BYTES:
        return f"The query string is longer than {MAX_QUERY_BYTES} bytes."
    if b"%" in qs or not qs.isascii():
        decoded = unquote_to_bytes(qs.replace(b"+", b" "))
        if problem := _text_problem(decoded, "query string"):
            return problem
    if len(qs) > MAX_QUERY_VALUE_CHARS:
        for part in qs.split(b"&"):
            value = unquote_to_bytes(part.partition(b"=")[2])
            if len(value.decode("utf-8")) > MAX_QUERY_VALUE_CHARS:
                name = part.partition(b"=")[0][:40].decode("ascii", "replace")
                return f"Query parameter {name!r} is over {MAX_QUERY_VALUE_CHARS} characters long."
    return None


def _escape_problem(raw: bytes) -> str | None:
    """NUL or a lone UTF-16 surrogate written as a JSON ``\\u`` escape."""
    pending_high = -1  # end offset of a high surrogate that needs its low half next
    for m in _ESCAPE.finditer(raw):
        if len(m.group(1)) % 2 == 0:
            continue  # an escaped backslash followed by the letter u: plain text
        code = int(m.group(2), 16)
        start = m.start() + len(m.group(1)) - 1
        if pending_high >= 0 and not (start == pending_high and 0xDC00 <= code <= 0xDFFF):
            return "The body contains a lone surrogate (\\ud800-\\udbff without its pair)."
        if code == 0:
            return "The body contains a NUL character (\\u0000), which no field accepts."
        if 0xD800 <= code <= 0xDBFF:
            pending_high = m.end()
        elif 0xDC00 <= code <= 0xDFFF and pending_high < 0:
            return "The body contains a lone surrogate (\\udc00-\\udfff without its pair)."
        else:
            pending_high = -1
    if pending_high >= 0:
        return "The body contains a lone surrogate (\\ud800-\\udbff without its pair)."
    return None


def body_problem(raw: bytes, content_type: bytes) -> str | None:
    """What is wrong with a request body, or None."""
    if not raw:
        return None
    if problem := _text_problem(raw, "body"):
        return problem
    if b"\\u" in raw and (problem := _escape_problem(raw)):
        return problem
    if content_type.startswith(_FORM) and b"%" in raw:
        return _text_problem(unquote_to_bytes(raw.replace(b"+", b" ")), "form body")
    return None


class UnsupportedEncodingError(ClientException):
    """415: the body is compressed (or otherwise coded); the API takes it as sent."""

    status_code = 415

    def __init__(self, coding: bytes, code: str = "unsupported_content_encoding") -> None:
        shown = coding[:40].decode("latin-1")
        super().__init__(
            detail=f"Send the body as it is, without Content-Encoding ({shown} is not taken).",
            extra={"code": code},
        )
        self.code = code


def _body_headers(scope: Any) -> tuple[bytes, bytes]:
    """The body's Content-Type and Content-Encoding (lower case; the first of each)."""
    content_type = coding = None
    for key, value in scope["headers"]:
        if key == b"content-type" and content_type is None:
            content_type = bytes(value).lower()
        elif key == b"content-encoding" and coding is None:
            coding = bytes(value).strip().lower()
    return content_type or b"", coding or b""


class InputGuard:
    """Pure ASGI; see the module doc."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if problem := target_problem(scope):
            await _refuse(scope, send, BadInputError(problem))
            return
        if problem := repeated_parameter(scope.get("query_string") or b""):
            await _refuse(scope, send, BadInputError(problem, "repeated_parameter"))
            return
        if scope["method"] in _BODY_METHODS:
            content_type, coding = _body_headers(scope)
            if coding not in (b"", b"identity"):
                await _refuse(scope, send, UnsupportedEncodingError(coding))
                return
            receive = _checked_body(receive, content_type)
        await self.app(scope, receive, send)


def _checked_body(receive: Any, content_type: bytes) -> Any:
    chunks: list[bytes] = []

    async def checked() -> Any:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                raw = b"".join(chunks)
                chunks.clear()
                if problem := body_problem(raw, content_type):
                    raise BadInputError(problem)
        return message

    return checked


_encoder = msgspec.json.Encoder()


async def _refuse(scope: Any, send: Any, refusal: BadInputError | UnsupportedEncodingError) -> None:
    status = refusal.status_code
    body = _encoder.encode(
        Problem(
            title=TITLE_BY_STATUS[status],
            status=status,
            detail=refusal.detail,
            code=refusal.code,
            instance=scope["path"].replace("\x00", ""),
        )
    )
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await security_headers(start, scope)
    await send(start)
    await send({"type": "http.response.body", "body": body})
