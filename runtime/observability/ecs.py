"""Log lines in Elastic Common Schema (ECS) field names.

The last step before rendering (after redaction): our own keys become their ECS
fields, and anything else a log call passed goes under ``bank`` (our custom
namespace, mapped as ``flattened`` by the index template in
``infra/helm/bank/charts/elk/files/index-template.json``), so a line never has a
top-level field the template does not know.

    {"@timestamp": "...", "log": {"level": "info", "logger": "bank.http"},
     "message": "http request", "service": {"name": "api"},
     "trace": {"id": "..."}, "user": {"id": "..."},
     "http": {"request": {"id": "...", "method": "POST"}, "response": {"status_code": 201}},
     "url": {"path": "/api/v1/accounts/{account_id}/deposits"},
     "event": {"dataset": "bank.api", "duration": 1234000, "kind": "event"},
     "ecs": {"version": "8.11.0"}, "bank": {...}}
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

ECS_VERSION = "8.11.0"

# Our key -> its ECS field (dotted path). Values are moved as they are, except
# the conversions in _CONVERT.
FIELDS: dict[str, str] = {
    "timestamp": "@timestamp",
    "level": "log.level",
    "logger": "log.logger",
    "event": "message",
    "process": "service.name",
    "trace_id": "trace.id",
    "request_id": "http.request.id",
    "actor": "user.id",
    "method": "http.request.method",
    "status": "http.response.status_code",
    "route": "url.path",
    "duration_ms": "event.duration",
    "exception": "error.stack_trace",
    "error": "error.message",
    "error_type": "error.type",
    "code": "error.code",
    "action": "event.action",
    "outcome": "event.outcome",
    "topic": "bank.kafka.topic",
}
# ECS event.outcome allows only these; our own outcomes go to bank.outcome.
_ECS_OUTCOMES = frozenset({"success", "failure", "unknown"})


def nanoseconds(ms: Any) -> Any:
    """``event.duration``: ECS counts nanoseconds; our calls pass milliseconds."""
    return int(ms * 1_000_000) if isinstance(ms, (int, float)) else ms


# The same fields as paths, split once: a line is built for every command.
_PATHS: dict[str, tuple[str, ...]] = {key: tuple(path.split(".")) for key, path in FIELDS.items()}
_BANK_OUTCOME = ("bank", "outcome")
_BANK_STATUS = ("bank", "status")


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def to_ecs(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: the line with ECS field names (see module docstring)."""
    doc: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in event_dict.items():
        if value is None:
            continue
        target = _PATHS.get(key)
        if key == "outcome" and value not in _ECS_OUTCOMES:
            target = _BANK_OUTCOME
        elif key == "duration_ms":
            value = nanoseconds(value)
        elif key == "status" and not isinstance(value, int):
            target = _BANK_STATUS
        elif key == "event" and not isinstance(value, str):
            value = str(value)
        if target is None:
            custom[key] = value
        else:
            _put(doc, target, value)
    service = doc.get("service", {}).get("name")
    event = doc.setdefault("event", {})
    event.setdefault("kind", "event")
    if service:
        event.setdefault("dataset", f"bank.{service}")
    doc["ecs"] = {"version": ECS_VERSION}
    if custom:
        bank = doc.setdefault("bank", {})
        bank.update(custom)
    return doc
