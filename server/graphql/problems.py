"""Errors over GraphQL carry the same ``code`` (and HTTP-equivalent ``status``) as REST.

One schema extension wraps every resolver: a domain error is looked up in the one
table of server/api/errors.py, an HTTP exception keeps its status and code, a
dependency that is down is ``unavailable``; anything else is logged and masked.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import GraphQLError, OperationType
from litestar.exceptions import HTTPException
from strawberry.extensions import SchemaExtension

from server.api.errors import (
    RETRY_AFTER_UNAVAILABLE_SECONDS,
    client_error_code,
    unanswered,
    unavailable_detail,
    unavailable_reason,
)
from server.api.openapi_errors import status_of_error
from server.domain.errors import DomainError

log = logging.getLogger("bank.graphql")


def extensions_of(code: str, status: int, **extra: Any) -> dict[str, Any]:
    """``code`` and ``status`` as REST would answer; ``classification`` says whose move it
    is, in graphql-java's and Spring GraphQL's words: BAD_REQUEST for anything the client
    can change (every 4xx), INTERNAL_ERROR for a fault of ours (5xx)."""
    classification = "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR"
    return {"code": code, "status": status, "classification": classification, **extra}


def problem(message: str, code: str, status: int, **extra: Any) -> GraphQLError:
    return GraphQLError(message, extensions=extensions_of(code, status, **extra))


def as_problem(exc: Exception, *, mutation: bool = False) -> GraphQLError:
    if isinstance(exc, GraphQLError):
        return exc
    if isinstance(exc, DomainError):
        status, _ = status_of_error(type(exc))
        extra = {"retry_after": exc.retry_after} if hasattr(exc, "retry_after") else {}
        return problem(exc.message, exc.code, status, **extra)
    if isinstance(exc, HTTPException):
        code = client_error_code(exc)
        extra = {}
        if exc.headers and "Retry-After" in exc.headers:
            extra["retry_after"] = int(exc.headers["Retry-After"])
        return problem(str(exc.detail), code, exc.status_code, **extra)
    if unavailable_reason(exc) is not None:
        unknown = mutation and unanswered(exc)  # as REST's outcome_unknown
        message = unavailable_detail("a service it depends on", unknown=unknown)
        return problem(message, "unavailable", 503, retry_after=RETRY_AFTER_UNAVAILABLE_SECONDS)
    log.error("unhandled error in a GraphQL resolver", exc_info=exc)
    return problem(
        "Something went wrong on our side; nothing was changed by this request.",
        "internal_error",
        500,
    )


class Problems(SchemaExtension):
    """Turns what a resolver raises into a GraphQL error with REST's code."""

    def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        mutation = info.operation.operation == OperationType.MUTATION
        try:
            result = _next(root, info, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every error becomes a problem
            raise as_problem(exc, mutation=mutation) from exc
        if inspect.isawaitable(result):
            return _awaited(result, mutation)
        return result


async def _awaited(result: Awaitable[Any], mutation: bool) -> Any:
    try:
        return await result
    except Exception as exc:  # noqa: BLE001
        raise as_problem(exc, mutation=mutation) from exc
