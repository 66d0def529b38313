"""The command runner's hook: ``bank_commands_total{command,outcome}``, retries,
and the ``command <name>`` span around the run.

Outcomes: ``ok``; ``replayed`` (an idempotent replay answered from the stored
response); ``conflict`` (lost the optimistic-concurrency race after every
retry, 409); ``rejected`` (any other domain error: a business rule, access
control, a reused key: a 4xx); ``error`` (anything unexpected: a 5xx, the only
outcome that counts against the error-rate SLO).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, TypeVar

from opentelemetry.trace import SpanKind

from runtime.observability import tracing
from server.domain.errors import DomainError
from server.observability.metrics import count_command, count_refusal, count_retry

T = TypeVar("T")
CONFLICT_CODE = "concurrency_conflict"
_COMMAND: ContextVar[str] = ContextVar("bank_command", default="unknown")


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return "conflict" if getattr(exc, "code", None) == CONFLICT_CODE else "rejected"
    return "error"


def _count_failure(command: str, exc: BaseException) -> None:
    outcome = outcome_of(exc)
    count_command(command, outcome)
    if outcome != "error":
        count_refusal(command, str(getattr(exc, "code", "unknown")))


async def observed(command: str, run: Awaitable[T]) -> T:
    """Await ``run`` (a CommandResult) and count how it ended."""
    token = _COMMAND.set(command)
    try:
        with tracing.span(f"command {command}", {"bank.command": command}):
            result = await run
    except Exception as exc:
        _count_failure(command, exc)
        raise
    finally:
        _COMMAND.reset(token)
    count_command(command, "replayed" if getattr(result, "replayed", False) else "ok")
    return result


_BATCH_OUTCOMES = {"created": "ok", "replayed": "replayed", "rejected": "rejected"}


async def observed_batch(command: str, run: Awaitable[T]) -> T:
    """Await a batch (a BatchTransferResponse) and count each item as one ``command``;
    a batch that fails as a whole counts once."""
    token = _COMMAND.set(command)
    try:
        with tracing.span(f"command {command} batch", {"bank.command": command}):
            result = await run
    except Exception as exc:
        _count_failure(command, exc)
        raise
    finally:
        _COMMAND.reset(token)
    for status, outcome in _BATCH_OUTCOMES.items():
        n = getattr(result, status, 0)
        if n:
            count_command(command, outcome, n)
    return result


def retried() -> None:
    """One optimistic-concurrency retry of the current command."""
    count_retry(_COMMAND.get())


def append_span() -> AbstractContextManager[Any]:
    """The span of the event append (a no-op context manager when tracing is off)."""
    return tracing.span("event_store.append")


@contextmanager
def _group_append(trace_ids: list[str], size: int) -> Iterator[None]:
    start = time.time_ns()
    yield
    end = time.time_ns()
    for trace_id in trace_ids:
        tracing.record_span(
            "event_store.append (group commit)",
            trace_id,
            start,
            end,
            {"bank.group_size": size},
            kind=SpanKind.INTERNAL,
        )


def group_append_span(metadata: Sequence[Any]) -> AbstractContextManager[Any]:
    """The append of a group commit, which runs outside each request's task: one span
    in each member's trace (under its request span). A no-op when tracing is off."""
    if not tracing.enabled():
        return nullcontext()
    trace_ids = list(dict.fromkeys(m.trace_id for m in metadata if getattr(m, "trace_id", None)))
    return _group_append(trace_ids, len(metadata))
