"""Which third-party distributions each process imports, read statically.

From a process's entry modules, follow every import statement (module level and
inside functions, not ``if TYPE_CHECKING:``) through our own packages; map each
third-party top-level module to its distribution. Compared with the closure of
the distributions its pyproject extra requires (read from the installed
metadata), this says whether an image that installs only that extra can run it.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
OURS = {"shared", "runtime", "server", "cdc", "client", "infra"}


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST, package: str) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def third_party_imports(entries: list[str]) -> dict[str, set[str]]:
    """top-level third-party module -> the modules of ours that import it."""
    seen: set[str] = set()
    todo = list(entries)
    external: dict[str, set[str]] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        # A package's __init__ runs before any of its modules.
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)
        for imported in _imports(ast.parse(path.read_text()), package):
            top = imported.split(".")[0]
            if top in OURS:
                todo.append(imported)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                external.setdefault(top, set()).add(name)
    return external


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requires(dist: str, extras: set[str]) -> list[Requirement]:
    env = default_environment()
    out = []
    for raw in md.requires(dist) or []:
        req = Requirement(raw)
        if req.marker is None:
            out.append(req)
            continue
        if any(req.marker.evaluate({**env, "extra": e}) for e in extras or {""}):
            out.append(req)
    return out


def closure(requirements: list[str]) -> set[str]:
    """Every distribution (normalized name) installed by these requirements."""
    result: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (_norm(req.name), frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        result.add(key[0])
        try:
            todo.extend(_requires(req.name, set(req.extras)))
        except md.PackageNotFoundError:
            continue
    return result


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def extra_requirements(extra: str) -> list[str]:
    """The base dependencies plus one extra, with our own self-references expanded."""
    proj = project()
    name = _norm(proj["name"])
    todo, out = [*proj["dependencies"], *proj["optional-dependencies"][extra]], []
    while todo:
        req = Requirement(todo.pop())
        if _norm(req.name) == name:
            for sub in req.extras:
                todo.extend(proj["optional-dependencies"][sub])
        else:
            out.append(str(req))
    return out


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return dict(md.packages_distributions())


def distributions_of(module: str) -> set[str]:
    return {_norm(d) for d in _packages_distributions().get(module, [])}
