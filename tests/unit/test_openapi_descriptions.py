"""Integrators read /schema/openapi.json as the whole contract: every operation in it says
what it does (its handler's docstring, which Litestar uses only with
``use_handler_docstrings``)."""

from __future__ import annotations

from typing import Any

from runtime.settings import Settings
from server.api.app import create_app
from server.api.openapi import contract_document


def _operations() -> dict[str, dict[str, Any]]:
    app = create_app(Settings.from_env({}))
    doc = contract_document(app, app.openapi_schema.to_schema())
    return {
        f"{method.upper()} {path}": op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }


def test_every_operation_has_a_description() -> None:
    operations = _operations()
    assert len(operations) > 50
    missing = sorted(
        f"{name} ({op['operationId']})"
        for name, op in operations.items()
        if not (op.get("description") or "").strip()
    )
    assert not missing, missing
