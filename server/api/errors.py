"""Every error becomes an RFC 9457 problem (application/problem+json), in one place.

- Domain and application errors: the table below (4xx with their ``code``).
- A dependency that is down (PostgreSQL, Redis: refused or broken connections,
  timeouts, a server starting up or shutting down, a pool closing) is 503 with
  ``Retry-After`` and ``code: "unavailable"``: ``unavailable_reason`` is the one
  list of what counts (docs/adr/0302-dependency-down-is-503.md).
- Anything else is our bug: 500 ``internal_error``, logged with its trace id,
  which the answer quotes so a support request can find the log line.
"""

from __future__ import annotations

import builtins
import logging
import re

import asyncpg
import msgspec
import redis.exceptions as redis_errors
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.middleware._internal.exceptions.middleware import get_exception_handler
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE

from runtime.observability.context import current_trace_id
from server.api.head_requests import with_head
from server.application import errors as app_errors
from server.application.standing_orders import StandingOrderEndedError
from server.domain import errors as domain
from shared.api import PATTERN_WORDS, Problem

log = logging.getLogger("bank.api")
PROBLEM_JSON = "application/problem+json"

_STATUS_BY_ERROR: list[tuple[type[Exception], int, str]] = [
    (domain.AccountNotFoundError, 404, "Not found"),
    (app_errors.PermissionDeniedError, 403, "Forbidden"),
    (domain.TopUpsDisabledError, 403, "Forbidden"),
    (domain.InvalidAccountNumberError, 422, "Invalid account number"),
    (domain.CashDepositToOwnAccountError, 403, "Forbidden"),
    (app_errors.EmailTakenError, 409, "Conflict"),
    (app_errors.InvalidCredentialsError, 400, "Invalid grant"),
    (app_errors.WrongTwoStepCodeError, 422, "Wrong code"),
    (app_errors.TwoStepAlreadyOnError, 409, "Conflict"),
    (app_errors.TwoStepNotStartedError, 409, "Conflict"),
    (app_errors.TwoStepNotOnError, 409, "Conflict"),
    (app_errors.TwoStepUnavailableError, 503, "Service unavailable"),
    (app_errors.WrongResetCodeError, 422, "Wrong code"),
    (app_errors.WrongEmailCodeError, 422, "Wrong code"),
    (app_errors.SameEmailError, 400, "Bad request"),
    (app_errors.MailUnavailableError, 503, "Service unavailable"),
    (app_errors.TooManyAttemptsError, 429, "Too many requests"),
    (app_errors.WrongPasswordError, 400, "Bad request"),
    (app_errors.SessionNotFoundError, 404, "Not found"),
    (app_errors.UserNotFoundError, 404, "Not found"),
    (app_errors.IdempotencyKeyReusedError, 422, "Idempotency key reused"),
    (app_errors.ConflictRetriesExhaustedError, 409, "Conflict"),
    (domain.ConcurrencyError, 409, "Conflict"),
    (domain.HoldNotPendingError, 409, "Hold not pending"),
    (domain.HoldExpiredError, 409, "Hold expired"),
    (domain.HoldNotExpiredError, 409, "Hold not expired"),
    (StandingOrderEndedError, 409, "Standing order ended"),
    (domain.BusinessRuleError, 422, "Business rule violated"),
]


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str | None,
    code: str | None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = Problem(title=title, status=status, detail=detail, code=code, instance=request.url.path)
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def domain_error_handler(request: Request, exc: domain.DomainError) -> Response:
    if isinstance(exc, domain.LimitExceededError):  # says what is left today
        body = Problem(
            title="Limit exceeded",
            status=422,
            detail=exc.message,
            code=exc.code,
            instance=request.url.path,
            remaining_today=exc.remaining_today,
        )
        return Response(msgspec.json.encode(body), status_code=422, media_type=PROBLEM_JSON)
    for cls, status, title in _STATUS_BY_ERROR:
        if isinstance(exc, cls):
            retry_after = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(retry_after)} if retry_after else None
            return problem_response(request, status, title, exc.message, exc.code, headers)
    return problem_response(request, 422, "Business rule violated", exc.message, exc.code)


# The code of a client error that names none of its own (Litestar's routing, guards and
# parsing raise them); GraphQL's errors take the same (server/graphql/problems.py).
CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}
# A problem's title by its status, where no table above gives one (and the OpenAPI
# document's description of each status).
TITLE_BY_STATUS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Business rule violated",
    429: "Too many requests",
    503: "Service unavailable",
}
# The codes of a body that is not JSON, and of one that does not fit the request's shape
# (server/api/body.py gives them too; the OpenAPI lists them for every body).
MALFORMED_JSON, INVALID_BODY = "malformed_json", "invalid_body"
INVALID_BODY_DETAIL = "Invalid request body"  # then what msgspec found, field by field
# How Litestar's signature model and msgspec word an empty body and broken JSON.
_NO_BODY = "Object missing required field `data`"
_MSGSPEC_MALFORMED = "JSON is malformed: "


def client_error_code(exc: HTTPException) -> str:
    """The ``code`` of an HTTP exception: its own, else by what went wrong. A body that
    is not JSON or does not fit the request's shape gets the codes the strict decode
    gives (server/api/body.py), whichever layer noticed it first."""
    extra = exc.extra if isinstance(exc.extra, dict) else None
    if extra and extra.get("code"):
        return str(extra["code"])
    if isinstance(exc.__cause__, SerializationException):
        return MALFORMED_JSON
    if isinstance(exc, ValidationException) and _body_errors_only(exc):
        return INVALID_BODY
    return CODE_BY_STATUS.get(exc.status_code, "invalid_request")


def _body_errors_only(exc: ValidationException) -> bool:
    if _missing_body(exc):
        return True
    messages = exc.extra if isinstance(exc.extra, list) else []
    return bool(messages) and all(
        isinstance(m, dict) and m.get("source") == "body" for m in messages
    )


def _missing_body(exc: ValidationException) -> bool:
    """Litestar's signature model found no body where a struct is declared."""
    cause = exc.__cause__
    return isinstance(cause, msgspec.ValidationError) and str(cause) == _NO_BODY


# msgspec names the field at the end ("Expected `int`, got `str` - at `$.amount`").
_AT_FIELD = re.compile(r"(?P<message>.*) - at `\$\.?(?P<field>[^`]+)`", re.DOTALL)


def plain_words(message: str) -> str:
    """msgspec's words for a field, the field first as Litestar's checks put it
    (``amount: Expected `int`, got `str```), and what a pattern asks for said in words,
    not as the regular expression (``Expected an email address like ...``)."""
    for pattern, words in PATTERN_WORDS.items():
        message = message.replace(f"`str` matching regex {pattern!r}", words)
    if at := _AT_FIELD.fullmatch(message):
        return f"{at['field']}: {at['message']}"
    return message


def _field_error(error: dict[str, object]) -> str:
    """``amount: Expected `int` >= 1``; a mistake of the whole body without Litestar's
    name for it (``data``)."""
    key, message = error.get("key", ""), plain_words(str(error.get("message", "")))
    return message if key in ("", "data") else f"{key}: {message}"


def _client_error_detail(request: Request, exc: HTTPException, allow: str | None) -> str:
    """Litestar's own words where they leave a person guessing; ours say what to do.
    ``allow``: the methods a 405's path takes, as its Allow header says them."""
    detail = exc.detail
    if isinstance(exc.__cause__, SerializationException):
        return f"The body is not valid JSON: {detail.removeprefix(_MSGSPEC_MALFORMED)}."
    if isinstance(exc, ValidationException):
        if _missing_body(exc):
            return "The request needs a JSON body."
        if isinstance(exc.extra, list) and exc.extra:
            # Litestar says "Validation failed for POST <path>" (the path is the problem's
            # ``instance`` already) and names the whole body "data"; the strict decode
            # (server/api/body.py) says "Invalid request body: ..." for the same mistake.
            parts = [_field_error(e) for e in exc.extra if isinstance(e, dict)]
            what = INVALID_BODY_DETAIL if _body_errors_only(exc) else "Invalid request"
            return f"{what}: " + "; ".join(parts)
    if isinstance(exc, MethodNotAllowedException) and allow:
        return f"{request.method} is not allowed here; this path takes {allow}."
    if isinstance(exc, NotFoundException) and detail == "Not Found":
        return f"{request.url.path} is not a path of this API; /schema lists them."
    if exc.status_code == 413:
        return f"The request body is too large: this endpoint takes at most {_max_body(request)}."
    return detail


def _bearer_challenge(request: Request) -> str:
    """``Bearer``, and ``error="invalid_token"`` when a bearer token was sent and refused."""
    sent = request.headers.get("authorization", "")[:7].lower() == "bearer "
    return 'Bearer realm="bank", error="invalid_token"' if sent else 'Bearer realm="bank"'


def _max_body(request: Request) -> str:
    try:
        limit = request.route_handler.resolve_request_max_body_size()
    except KeyError:  # no route in the scope (the fast lane): the words stay general
        limit = None
    return f"{limit:,} bytes" if limit else "the size it allows"


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    title = TITLE_BY_STATUS.get(exc.status_code, "Error")
    headers = dict(exc.headers or {})
    if "allow" in headers:  # a 405: HEAD is answered wherever GET is (head_requests.py)
        headers["allow"] = with_head(headers["allow"])
    detail = _client_error_detail(request, exc, headers.get("allow"))
    if exc.status_code == 401:  # RFC 9110 §15.5.2 and RFC 6750 §3: say how to authenticate
        headers.setdefault("WWW-Authenticate", _bearer_challenge(request))
    return problem_response(
        request, exc.status_code, title, detail, client_error_code(exc), headers or None
    )


# Seconds a client should wait before retrying while a dependency is down
# (a restarted Redis or PostgreSQL was measured back within 1.3 to 4.4 s).
RETRY_AFTER_UNAVAILABLE_SECONDS = 2

# Errors that mean "a server we depend on is not answering", not "we are wrong".
_DEPENDENCY_DOWN: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,  # refused, reset, "Connection closed by server", loading
    redis_errors.TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: connection failure / does not exist
    asyncpg.exceptions.OperatorInterventionError,  # 57: shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk full
    asyncpg.exceptions.InternalClientError,  # protocol state lost with a killed server
    builtins.ConnectionError,  # OSError: refused / reset / broken pipe
    builtins.TimeoutError,  # a connect or pool acquire that timed out
)
# asyncpg reports a closed connection or pool as an InterfaceError with these words.
_CLOSED_WORDS = ("connection is closed", "pool is closing", "pool is closed")
# PostgreSQL cannot store these characters (NUL in text): a client's input, not a bug.
_UNSTORABLE_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what caused it, and the members of exception groups."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        e = todo.pop()
        if any(e is s for s in seen):
            continue
        seen.append(e)
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return seen


def unavailable_reason(exc: BaseException) -> str | None:
    """Which dependency is down, when this error (or its cause) says one is."""
    for e in _chain(exc):
        if isinstance(e, _DEPENDENCY_DOWN):
            return "redis" if isinstance(e, redis_errors.RedisError) else "postgres"
        if isinstance(e, asyncpg.InterfaceError) and any(w in str(e) for w in _CLOSED_WORDS):
            return "postgres"
    return None


def unanswered(exc: BaseException) -> bool:
    """The database did not answer in time (a statement timeout: the server hangs, or
    the network holds its packets): a change may still be applied when it answers."""
    return any(isinstance(e, builtins.TimeoutError) for e in _chain(exc))


def outcome_unknown(request: Request, exc: BaseException) -> bool:
    """A change that got no answer: its 503 must not say that nothing was changed. A
    read changes nothing either way."""
    return request.method not in ("GET", "HEAD") and unanswered(exc)


def unavailable_detail(what: str, *, unknown: bool) -> str:
    """The words of a 503 (REST's detail, GraphQL's message); ``unknown``: a change that
    got no answer in time, which may still take effect."""
    retry = f"Retry in {RETRY_AFTER_UNAVAILABLE_SECONDS} seconds"
    if unknown:
        return (
            f"The bank got no answer from {what} in time; this request may still take"
            f" effect. {retry} with the same Idempotency-Key: a money movement is applied"
            " at most once."
        )
    return (
        f"The bank cannot reach {what} right now; nothing was changed by this request."
        f" {retry} (with the same Idempotency-Key for a money movement)."
    )


def unavailable_response(request: Request, reason: str, *, unknown: bool = False) -> Response:
    what = {"redis": "the session and cache store", "postgres": "the database"}[reason]
    return problem_response(
        request,
        HTTP_503_SERVICE_UNAVAILABLE,
        "Service unavailable",
        unavailable_detail(what, unknown=unknown),
        "unavailable",
        {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_SECONDS)},
    )


def internal_error_handler(request: Request, exc: Exception) -> Response:
    reason = unavailable_reason(exc)
    if reason is not None:
        log.warning(
            "dependency unavailable on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc,
        )
        return unavailable_response(request, reason, unknown=outcome_unknown(request, exc))
    if any(isinstance(e, _UNSTORABLE_TEXT) for e in _chain(exc)):
        return problem_response(
            request,
            400,
            "Bad request",
            "The request contains characters that cannot be stored (such as NUL).",
            "invalid_characters",
        )
    if any(isinstance(e, RecursionError) for e in _chain(exc)):
        return problem_response(
            request, 400, "Bad request", "The JSON body is nested too deeply.", "invalid_body"
        )
    trace_id = current_trace_id()
    log.exception("unhandled error on %s %s (trace %s)", request.method, request.url.path, trace_id)
    return problem_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal server error",
        "Something went wrong on our side; nothing was changed by this request."
        + (f" Quote trace id {trace_id} if you contact us." if trace_id else ""),
        "internal_error",
    )


exception_handlers = {
    domain.DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    HTTP_500_INTERNAL_SERVER_ERROR: internal_error_handler,
    Exception: internal_error_handler,
}


def error_response(request: Request, exc: Exception) -> Response:
    """The answer to ``exc``, by the handler Litestar's exception middleware would pick
    (for server/api/fast_lane.py, which answers outside that middleware)."""
    handler = get_exception_handler(exception_handlers, exc) or internal_error_handler  # type: ignore[arg-type]
    return handler(request, exc)  # type: ignore[no-any-return]


__all__ = ["error_response", "exception_handlers", "problem_response", "MediaType"]
