"""Check a log line against the ECS field types of our Elasticsearch index template
(infra/helm/bank/charts/elk/files/index-template.json): every field is mapped (or
inside a ``flattened`` field) and its JSON value fits the mapped type. Elasticsearch
cannot run on this machine; this is the check we can make without it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

TEMPLATE = (
    Path(__file__).resolve().parents[2] / "infra/helm/bank/charts/elk/files/index-template.json"
)
STRING_TYPES = {"keyword", "wildcard", "match_only_text", "text", "constant_keyword"}


def mapping() -> dict[str, str]:
    """dotted field path -> mapped type (objects are not listed)."""
    props = json.loads(TEMPLATE.read_text())["template"]["mappings"]["properties"]
    out: dict[str, str] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for name, spec in node.items():
            path = f"{prefix}{name}"
            if "properties" in spec:
                walk(path + ".", spec["properties"])
            else:
                out[path] = spec["type"]

    walk("", props)
    return out


def _fits(kind: str, value: Any) -> bool:
    if kind in STRING_TYPES:
        return isinstance(value, str)
    if kind == "long":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "date":
        if not isinstance(value, str):
            return False
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    if kind == "flattened":
        return isinstance(value, dict)
    return False


def problems(line: dict[str, Any], fields: dict[str, str] | None = None) -> list[str]:
    """What in ``line`` the index template would not take as typed (empty = fine)."""
    fields = fields or mapping()
    found: list[str] = []

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            kind = fields.get(path)
            if kind is not None:
                if not _fits(kind, value):
                    found.append(f"{path}={value!r} is not a {kind}")
            elif isinstance(value, dict) and any(f.startswith(path + ".") for f in fields):
                walk(path + ".", value)
            else:
                found.append(f"{path} is not in the index template")

    walk("", line)
    for required in ("@timestamp", "message", "log.level", "service.name", "ecs.version"):
        node: Any = line
        for part in [required] if required == "@timestamp" else required.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            found.append(f"{required} missing")
    return found
