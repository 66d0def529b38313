"""Schemathesis hooks of the OpenAPI contract run (loaded through SCHEMATHESIS_HOOKS).

Two rules of the API are stricter than JSON Schema can say. Positive cases (the ones
the document calls valid) that break them are dropped, so that every other refusal
of valid data still fails the run; negative cases are sent unchanged.

- Amounts: JSON Schema counts ``427.0`` as the integer 427, the API refuses any
  float where money is expected (tests/integration/test_bad_input.py proves the 400).
- Cursors are opaque: only one the API gave on an earlier page is valid.
- Passwords: beyond the length the document states, the policy refuses well-known
  passwords, ones of one or two distinct characters and ones built from the email or
  name; ``check_password`` itself decides here, so the rule is not written twice.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.generation import GenerationMode

from server.application.password_policy import WeakPasswordError, check_password


def _has_whole_float(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_whole_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_whole_float(v) for v in value)
    return False


def _weak_password(body: Any) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("password"), str):
        return False
    try:
        check_password(body["password"], str(body.get("email", "")), str(body.get("full_name", "")))
    except WeakPasswordError:
        return True
    return False


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return True
    if _has_whole_float(case.body) or (case.query or {}).get("cursor") is not None:
        return False
    return not (case.operation.label == "POST /api/v1/auth/register" and _weak_password(case.body))
