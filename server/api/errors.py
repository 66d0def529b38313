"""Every error becomes an RFC 9457 problem (application/problem+json), in one place."""

from __future__ import annotations

import logging

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from server.application import errors as app_errors
from server.domain import errors as domain
from shared.api import Problem

log = logging.getLogger("bank.api")
PROBLEM_JSON = "application/problem+json"

_STATUS_BY_ERROR: list[tuple[type[Exception], int, str]] = [
    (domain.AccountNotFoundError, 404, "Not found"),
    (app_errors.PermissionDeniedError, 403, "Forbidden"),
    (app_errors.EmailTakenError, 409, "Conflict"),
    (app_errors.InvalidCredentialsError, 400, "Invalid grant"),
    (app_errors.TooManyAttemptsError, 429, "Too many requests"),
    (app_errors.SessionNotFoundError, 404, "Not found"),
    (app_errors.UserNotFoundError, 404, "Not found"),
    (app_errors.IdempotencyKeyReusedError, 422, "Idempotency key reused"),
    (app_errors.ConflictRetriesExhaustedError, 409, "Conflict"),
    (domain.ConcurrencyError, 409, "Conflict"),
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
    for cls, status, title in _STATUS_BY_ERROR:
        if isinstance(exc, cls):
            retry_after = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(retry_after)} if retry_after else None
            return problem_response(request, status, title, exc.message, exc.code, headers)
    return problem_response(request, 422, "Business rule violated", exc.message, exc.code)


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    extra = exc.extra if isinstance(exc.extra, dict) else None
    code = extra.get("code") if extra else None
    detail = exc.detail
    if isinstance(exc, ValidationException) and code is None:
        code = "invalid_request"
        if isinstance(exc.extra, list) and exc.extra:
            parts = [
                f"{e.get('key', '')}: {e.get('message', '')}".strip(": ")
                for e in exc.extra
                if isinstance(e, dict)
            ]
            detail = f"{detail}. " + "; ".join(parts)
    headers = dict(exc.headers or {})
    title = {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
        429: "Too many requests",
    }.get(exc.status_code, "Error")
    return problem_response(request, exc.status_code, title, detail, code, headers or None)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal server error",
        "Something went wrong on our side; nothing was changed by this request.",
        "internal_error",
    )


exception_handlers = {
    domain.DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    HTTP_500_INTERNAL_SERVER_ERROR: internal_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["exception_handlers", "problem_response", "MediaType"]
