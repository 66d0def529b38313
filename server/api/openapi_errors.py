"""Which problems each route handler can answer, read from the code itself.

The OpenAPI document lists, per operation, every status and every ``code`` it can
give. Those lists are not written by hand: this module reads the source of the
handler and of everything it calls in our own packages (``ast``), and collects

- each ``HTTPException`` subclass it raises (``BadRequestError(detail, "code")``,
  ``TooManyRequestsException(..., extra={"code": ...})``) with its status and code;
- each ``DomainError`` subclass it raises, with the status and title of the one
  table in server/api/errors.py and the class's own ``code``;
- the arguments given to ``parse_uuid`` (those parameters are UUIDs) and whether
  ``idempotency_key`` is called with ``required=False``.

A call through an attribute that cannot be resolved statically (``ctx.accounts.load``,
``sessions.sign_in``) is followed into every function of ours with that name: the
lists may be a little wider than what one operation ever gives, never narrower
(the Schemathesis contract test fails on a code that is not listed).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from litestar.exceptions import HTTPException

from server.api import errors
from server.application.commands import Command
from server.domain.errors import DomainError

OUR_PACKAGES = ("server.", "shared.")


@dataclass
class HandlerFacts:
    """What the source of one route handler says about its answers."""

    problems: dict[int, set[str]] = field(default_factory=dict)  # status -> codes
    titles: dict[int, str] = field(default_factory=dict)
    uuid_params: set[str] = field(default_factory=set)
    idempotency: str | None = None  # "required" | "optional" | None

    def add(self, status: int, code: str | None, title: str | None = None) -> None:
        codes = self.problems.setdefault(status, set())
        if code:
            codes.add(code)
        if title and status not in self.titles:
            self.titles[status] = title


def status_of_error(cls: type[DomainError]) -> tuple[int, str]:
    """The status and title server/api/errors.py answers for this error class."""
    for error, status, title in errors._STATUS_BY_ERROR:  # the one table
        if issubclass(cls, error):
            return status, title
    return 422, "Business rule violated"  # errors.domain_error_handler's fallback


def _is_command(obj: object) -> bool:
    """A command type (a Command subclass: server/application/commands.py and the
    modules of issue #17's commands): dispatched to its decider by type."""
    return inspect.isclass(obj) and issubclass(obj, Command)


def _ours(obj: object) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith(OUR_PACKAGES)


@cache
def _all_functions() -> tuple[Callable[..., Any], ...]:
    """Every function and method of ours, in the modules the process loaded."""
    found: list[Callable[..., Any]] = []
    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.startswith(OUR_PACKAGES) or mod_name.endswith("__main__") or mod is None:
            continue
        for obj in vars(mod).values():
            if getattr(obj, "__module__", None) != mod_name:
                continue
            if inspect.isfunction(obj):
                found.append(inspect.unwrap(obj))
            elif inspect.isclass(obj):
                found.extend(f for f in vars(obj).values() if isinstance(f, types.FunctionType))
    return tuple(found)


@cache
def _functions_named(name: str) -> tuple[Callable[..., Any], ...]:
    return tuple(f for f in _all_functions() if f.__name__ == name)


@cache
def _functions_taking(type_name: str) -> tuple[Callable[..., Any], ...]:
    """Every function or method of ours with a parameter annotated with this type: where a
    command object goes when it is dispatched by its type (``@decides(DepositMoney)``)."""
    token = re.compile(rf"\b{re.escape(type_name)}\b")
    found: list[Callable[..., Any]] = []
    for candidate in _all_functions():
        annotations = {k: v for k, v in getattr(candidate, "__annotations__", {}).items()}
        annotations.pop("return", None)
        if any(token.search(v if isinstance(v, str) else repr(v)) for v in annotations.values()):
            found.append(candidate)
    return tuple(found)


@cache
def _tree(fn: Callable[..., Any]) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None


def _owner(fn: Callable[..., Any]) -> type | None:
    parts = fn.__qualname__.split(".")
    if len(parts) < 2:
        return None
    owner: Any = sys.modules[fn.__module__]
    for part in parts[:-1]:
        owner = getattr(owner, part, None)
    return owner if inspect.isclass(owner) else None


def _resolve(node: ast.expr, fn: Callable[..., Any]) -> Any:
    if isinstance(node, ast.Name):
        return fn.__globals__.get(node.id)
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            owner = _owner(fn)
            return getattr(owner, node.attr, None) if owner else None
        base = _resolve(node.value, fn)
        if isinstance(base, types.ModuleType) or inspect.isclass(base):
            return getattr(base, node.attr, None)
    return None


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _http_code(cls: type[HTTPException], call: ast.Call) -> str | None:
    for kw in call.keywords:
        if kw.arg == "code":
            return _literal(kw.value)
        if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
            for k, v in zip(kw.value.keys, kw.value.values, strict=True):
                if k is not None and _literal(k) == "code":
                    return _literal(v)
    try:
        params = list(inspect.signature(cls.__init__).parameters)
    except (TypeError, ValueError):
        return None
    if "code" not in params:
        return None
    index = params.index("code") - 1  # without self
    if index < len(call.args):
        return _literal(call.args[index])
    default = inspect.signature(cls.__init__).parameters["code"].default
    return default if isinstance(default, str) else None


def _callees(fn: Callable[..., Any], tree: ast.AST) -> Iterator[tuple[ast.AST, Any]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, _resolve(node.func, fn)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            yield node, _resolve(node.exc, fn)
        elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            # a function picked as a value and called later (``step = account.deposit``)
            yield node, _resolve(node, fn)


def _unresolved_method(node: ast.AST) -> bool:
    """``obj.name`` on an object whose type the source does not say (not ``self``)."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    )


def _problem_built(
    fn: Callable[..., Any], facts: HandlerFacts, node: ast.Call, target: Any
) -> None:
    """A problem answered directly: ``Problem(status=400, code="...")`` or
    ``problem_response(request, status, title, detail, code)``, with constant values."""
    values = {kw.arg: kw.value for kw in node.keywords if kw.arg}
    if getattr(target, "__name__", "") == "problem_response":
        names = ("request", "status", "title", "detail", "code")
        values.update(zip(names, node.args, strict=False))
    elif not (inspect.isclass(target) and target.__name__ == "Problem"):
        return
    status = values.get("status")
    value = status.value if isinstance(status, ast.Constant) else None
    if isinstance(status, (ast.Name, ast.Attribute)):
        value = _resolve(status, fn)  # HTTP_503_SERVICE_UNAVAILABLE
    if isinstance(value, int) and not isinstance(value, bool):
        facts.add(value, _literal(values.get("code")))


def _note_call(fn: Callable[..., Any], facts: HandlerFacts, node: ast.Call, target: Any) -> None:
    _problem_built(fn, facts, node, target)
    name = getattr(target, "__name__", "")
    if name == "parse_uuid" and node.args and isinstance(node.args[0], ast.Name):
        facts.uuid_params.add(node.args[0].id)
    if name == "resolve_account" and len(node.args) > 1 and isinstance(node.args[1], ast.Name):
        facts.uuid_params.add(node.args[1].id)  # a UUID (an account number is accepted too)
    if name == "idempotency_key":
        optional = any(
            kw.arg == "required" and isinstance(kw.value, ast.Constant) and not kw.value.value
            for kw in node.keywords
        )
        if facts.idempotency != "required":
            facts.idempotency = "optional" if optional else "required"


@cache
def _local(fn: Callable[..., Any]) -> tuple[HandlerFacts, tuple[Callable[..., Any], ...]]:
    """What one function's own source says, and the functions it goes on into (once each)."""
    facts = HandlerFacts()
    callees: list[Callable[..., Any]] = []
    tree = _tree(fn) if _ours(fn) else None
    if tree is not None:
        for node, target in _callees(fn, tree):
            callees.extend(_step(fn, node, target, facts))
    return facts, tuple(callees)


def _merge(into: HandlerFacts, facts: HandlerFacts) -> None:
    for status, codes in facts.problems.items():
        into.problems.setdefault(status, set()).update(codes)
    for status, title in facts.titles.items():
        into.titles.setdefault(status, title)
    into.uuid_params |= facts.uuid_params
    if facts.idempotency and into.idempotency != "required":
        into.idempotency = facts.idempotency


def _step(
    fn: Callable[..., Any], node: ast.AST, target: Any, facts: HandlerFacts
) -> tuple[Callable[..., Any], ...]:
    """Note what this node answers; return the functions the walk goes on into."""
    call = node if isinstance(node, ast.Call) else None
    if inspect.isclass(target) and issubclass(target, HTTPException):
        facts.add(target.status_code, _http_code(target, call) if call else None)
    elif (
        inspect.isclass(target)
        and issubclass(target, DomainError)
        and target.code != DomainError.code  # a base class: its code is set where raised
    ):
        status, title = status_of_error(target)
        facts.add(status, target.code, title)
    elif call is not None and _is_command(target):
        return _functions_taking(target.__name__)  # dispatched to its decider by type
    elif inspect.isfunction(target) or (inspect.isclass(target) and target.__name__ == "Problem"):
        if call is not None:
            _note_call(fn, facts, call, target)
        return (target,) if inspect.isfunction(target) else ()
    elif target is None and isinstance(node, ast.Attribute) and _unresolved_method(node):
        return _functions_named(node.attr)
    elif dataclasses.is_dataclass(target) and not inspect.isclass(target) and _ours(target):
        # a route's description that carries its handler (accounts.MovementRoute)
        values = (getattr(target, f.name) for f in dataclasses.fields(target))
        return tuple(v for v in values if inspect.isfunction(v))
    return ()


def handler_facts(*functions: Callable[..., Any]) -> HandlerFacts:
    """The problems the given functions (a handler, its dependency providers, the edge)
    and everything they reach can answer."""
    facts = HandlerFacts()
    seen: set[Any] = set()
    todo = [inspect.unwrap(fn) for fn in functions]
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        own, callees = _local(fn)
        _merge(facts, own)
        todo.extend(c for c in callees if c not in seen)
    return facts
