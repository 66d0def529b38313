"""The OpenAPI document as the whole contract, built from the routes in one place.

Litestar generates the paths and bodies from the handlers; this module completes
that document (``/schema/openapi.json``) so that a client generated from it, or a
fuzzer reading it, knows everything the API will accept and answer:

- bodies and their parts are msgspec's own JSON Schema of the Structs the API
  decodes with (strict: ``additionalProperties: false``, lengths, patterns, amounts
  as ``integer`` minor units with their bounds), plus the rules checked after
  decoding (password length, page size bounds) taken from the constants that check them;
- every operation lists every problem it can answer (RFC 9457,
  ``application/problem+json``) with the enum of its ``code`` values, read from the
  code by server/api/openapi_errors.py and the table in server/api/errors.py;
- path and query ids the handler parses as UUIDs are ``format: uuid``;
- ``Idempotency-Key`` is declared where a handler reads it (required or not);
- the security schemes: OAuth2 password flow (with its token URL) and bearer JWT;
  the public paths need neither.
"""

from __future__ import annotations

import copy
import inspect
import re
import typing
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    ScalarRenderPlugin,
    SwaggerRenderPlugin,
)
from litestar.routes import HTTPRoute

from server.api import body, errors, notifications, queries, security, statements
from server.api.errors import PROBLEM_JSON
from server.api.input_guard import InputGuard
from server.api.openapi_errors import HandlerFacts, handler_facts
from server.api.rate_limits import MONEY_MOVING
from shared.api import DESCRIPTION_MAX_LENGTH, IDEMPOTENCY_KEY, PASSWORD_MIN_LENGTH, Problem

REF = "#/components/schemas/{name}"
OAUTH2, BEARER = "OAuth2PasswordBearer", "BearerJWT"

WITH_RETRY_AFTER = (429, 503)

# Rules a handler checks itself after decoding, stated with the constants it checks.
PARAMETER_RULES: dict[tuple[str, str], dict[str, Any]] = {
    ("listTransactions", "limit"): {"minimum": 1, "maximum": queries.MAX_PAGE},
    ("listRecentTransactions", "limit"): {"minimum": 1, "maximum": queries.MAX_PAGE},
    ("listTransactions", "kind"): {"enum": list(queries.KINDS)},
    ("listTransactions", "q"): {"maxLength": DESCRIPTION_MAX_LENGTH},
    ("listTransactions", "from"): {"anyOf": [{"format": "date"}, {"format": "date-time"}]},
    ("listTransactions", "to"): {"anyOf": [{"format": "date"}, {"format": "date-time"}]},
    ("getAnalytics", "from"): {"format": "date"},
    ("getAnalytics", "to"): {"format": "date"},
    ("getAccount", "min_version"): {"minimum": 0},
    ("getBalance", "min_version"): {"minimum": 0},
    ("searchAuditTrail", "cursor"): {"pattern": "^[0-9]{1,19}$"},
    ("listNotifications", "limit"): {"minimum": 1, "maximum": notifications.MAX_PAGE},
    ("listNotifications", "before"): {"minimum": 1},
    ("getStatement", "month"): {"pattern": statements.MONTH_PATTERN},
    ("getStatement", "format"): {"enum": list(statements.FORMATS)},
}
# The resource a 201 creates, and the operations that take its id (OpenAPI links).
CREATES = {"openAccount": ("account_id", "$response.body#/id")}
BODY_RULES: dict[tuple[str, str | None], dict[str, Any]] = {
    ("RegisterRequest", "password"): {"minLength": PASSWORD_MIN_LENGTH},
    ("MarkReadRequest", "ids"): {"maxItems": notifications.MAX_IDS},
    ("MarkReadRequest", None): {  # the ids, or up_to
        "anyOf": [
            {"required": ["ids"], "properties": {"ids": {"minItems": 1}}},
            {"required": ["up_to"], "properties": {"up_to": {"type": "integer"}}},
        ]
    },
}


# Python's ``\s`` (what the API's msgspec patterns mean) is wider than ECMA-262's (what
# JSON Schema means): it also matches \x1c-\x1f and \x85. Patterns are spelled out.
_PY_SPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


def _ecma_pattern(pattern: str) -> str:
    out, in_class, i = [], False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if pair == "\\s":
                out.append(_PY_SPACE if in_class else f"[{_PY_SPACE}]")
            else:
                out.append(pair)
            i += 2
            continue
        in_class = (in_class or ch == "[") and ch != "]"
        out.append(ch)
        i += 1
    return "".join(out)


def _fix_patterns(node: Any) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            node["pattern"] = _ecma_pattern(node["pattern"])
        for value in node.values():
            _fix_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _fix_patterns(value)


def _edge_types(handler: HTTPRouteHandler) -> list[Any]:
    """The msgspec Structs a handler decodes and answers."""
    hints = typing.get_type_hints(handler.fn, include_extras=True)
    found = []
    for name in ("data", "return"):
        hint = hints.get(name)
        while typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
        if typing.get_origin(hint) is Response:
            hint = typing.get_args(hint)[0]
        if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
            found.append(hint)
    return found


def _handlers(app: Litestar) -> dict[str, HTTPRouteHandler]:
    return {
        h.operation_id: h
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for h in route.route_handlers
        if isinstance(h.operation_id, str)
    }


# What every request can meet before or after its handler: the input guard (NUL, lone
# surrogates, ...) and the handler of unexpected errors (a dependency down is 503).
EDGE = (InputGuard.__call__, errors.internal_error_handler)


def _facts(handler: HTTPRouteHandler) -> HandlerFacts:
    wanted = inspect.signature(handler.fn).parameters
    providers = [p.dependency for n, p in handler.resolve_dependencies().items() if n in wanted]
    facts = handler_facts(handler.fn, *providers, *EDGE)
    facts.problems.pop(500, None)  # never part of the contract: a 500 is a bug to fix
    return facts


def _problem_schema(status: int, codes: set[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer", "enum": [status]},
        "detail": {"type": ["string", "null"]},
        "instance": {"type": ["string", "null"]},
    }
    if codes:
        properties["code"] = {"type": "string", "enum": sorted(codes)}
    return {
        "type": "object",
        "properties": properties,
        "required": ["title", "status"],
        "additionalProperties": False,
    }


def _problems(op_id: str, op: dict[str, Any], facts: HandlerFacts, public: bool) -> None:
    problems = {status: set(codes) for status, codes in facts.problems.items()}
    # What Litestar refuses before the handler runs, in the codes errors.py gives it.
    code = errors.CODE_BY_STATUS
    problems.setdefault(400, set()).add(code[400])  # a parameter that does not fit
    if not public:
        problems.setdefault(401, set()).update(
            (code[401], security.TOKEN_EXPIRED, security.SESSION_REVOKED)
        )
    if "requestBody" in op:
        problems[400] |= {errors.INVALID_BODY, errors.MALFORMED_JSON}
        problems.setdefault(413, set()).add(code[413])
    if op_id in MONEY_MOVING:
        problems.setdefault(429, set()).add(code[429])
    problems.setdefault(503, set()).add(code[503])  # a dependency is down
    responses = op.setdefault("responses", {})
    for status, codes in sorted(problems.items()):
        response: dict[str, Any] = {
            "description": errors.TITLE_BY_STATUS.get(status) or facts.titles.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": _problem_schema(status, codes)}},
        }
        if status in WITH_RETRY_AFTER:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        responses[str(status)] = response


def _wire_names(handler: HTTPRouteHandler) -> dict[str, str]:
    """Handler argument name -> name on the wire (``actor_filter`` -> ``actor``)."""
    names = {}
    for name, param in handler.parsed_fn_signature.parameters.items():
        kwarg = param.kwarg_definition
        names[name] = getattr(kwarg, "query", None) or getattr(kwarg, "header", None) or name
    return names


def _parameters(op_id: str, op: dict[str, Any], facts: HandlerFacts, wire: dict[str, str]) -> None:
    uuid_params = {wire.get(name, name) for name in facts.uuid_params}
    for param in op.get("parameters", []):
        schema = param.setdefault("schema", {})
        alternatives = schema.get("oneOf") or [schema]
        for alt in alternatives:
            if alt.get("type") == "null":
                continue
            if param["name"] in uuid_params:
                alt.update({"type": "string", "format": "uuid"})
            alt.update(PARAMETER_RULES.get((op_id, param["name"]), {}))
    if facts.idempotency:
        op.setdefault("parameters", []).append(
            {
                "name": IDEMPOTENCY_KEY,
                "in": "header",
                "required": facts.idempotency == "required",
                "description": "Generate once per operation (a UUID) and send the same key on"
                " every retry: the first answer is repeated and nothing happens twice.",
                "schema": {"type": "string", "pattern": body._KEY.pattern},  # the one rule
            }
        )


def contract_document(app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
    """The complete contract, from Litestar's generated document and the handlers."""
    doc = copy.deepcopy(generated)
    handlers = _handlers(app)
    structs = {Problem, *(t for h in handlers.values() for t in _edge_types(h))}
    _, components = msgspec.json.schema_components(
        sorted(structs, key=lambda t: t.__name__), ref_template=REF
    )
    _fix_patterns(components)
    for (struct, field_name), rules in BODY_RULES.items():
        if struct not in components:
            continue
        target = components[struct]
        (target["properties"][field_name] if field_name else target).update(rules)
    doc.setdefault("components", {}).setdefault("schemas", {}).update(components)
    doc["components"]["securitySchemes"] = {
        OAUTH2: {
            "type": "oauth2",
            "description": "OAuth 2.0 password grant; the token endpoint takes a form body.",
            "flows": {"password": {"tokenUrl": security.TOKEN_URL, "scopes": {}}},
        },
        BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    }
    doc["security"] = [{OAUTH2: []}, {BEARER: []}]
    public = [re.compile(p) for p in security.PUBLIC_PATHS]
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            is_public = any(p.match(path) for p in public)
            if is_public:
                op["security"] = []
            handler = handlers.get(op["operationId"])
            if handler is None or not path.startswith("/api/"):
                continue
            facts = _facts(handler)
            _parameters(op["operationId"], op, facts, _wire_names(handler))
            _problems(op["operationId"], op, facts, is_public)
            _download(op, handler)
    _links(doc)
    return doc


def _download(op: dict[str, Any], handler: HTTPRouteHandler) -> None:
    """A handler that answers a file (``opt["openapi_content"]``: media type -> schema)
    documents each media type of its 200 and the attachment header."""
    content = handler.opt.get("openapi_content")
    if not content:
        return
    ok = op.setdefault("responses", {}).setdefault("200", {"description": "OK"})
    ok["content"] = copy.deepcopy(content)
    ok.setdefault("headers", {})["Content-Disposition"] = {
        "description": "attachment, with the file name",
        "schema": {"type": "string"},
    }


def _links(doc: dict[str, Any]) -> None:
    ops = [op for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)]
    for producer in ops:
        if producer.get("operationId") not in CREATES:
            continue
        param, expression = CREATES[producer["operationId"]]
        links = {
            consumer["operationId"]: {
                "operationId": consumer["operationId"],
                "parameters": {param: expression},
            }
            for consumer in ops
            if any(
                p.get("name") == param and p.get("in") == "path"
                for p in consumer.get("parameters", [])
            )
        }
        producer["responses"]["201"]["links"] = links


class ContractJsonPlugin(JsonRenderPlugin):
    """Serves ``/openapi.json`` as the completed contract (built once, then cached)."""

    def __init__(self) -> None:
        super().__init__()
        self._rendered: bytes | None = None

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            doc = contract_document(request.app, openapi_schema)
            self._rendered = self.render_json(request, doc)
        return self._rendered


def openapi_config() -> OpenAPIConfig:
    plugins: list[OpenAPIRenderPlugin] = [
        ContractJsonPlugin(),
        ScalarRenderPlugin(),
        SwaggerRenderPlugin(path="/swagger"),
    ]
    return OpenAPIConfig(
        title="Modern Banking Platform API",
        version="1.0.0",
        path="/schema",
        render_plugins=plugins,
        use_handler_docstrings=True,  # a handler's docstring is its operation's description
    )
