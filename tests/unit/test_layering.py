"""Imports point inwards (docs/ARCHITECTURE.md): each rule below is a folder that must
not import another. Read statically from the import statements, so a lazy import inside
a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("shared", "runtime", "server", "cdc", "client", "infra")

# folder -> the packages of ours it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "shared": ("runtime", "server", "cdc", "client", "infra"),
    "runtime": ("server", "cdc", "client", "infra"),
    "server/domain": ("runtime", "server", "cdc", "client", "infra"),
    "server/application": ("server.api", "server.graphql", "server.projections", "server.queries"),
    "server/readmodel": ("server.projections", "server.queries", "server.api"),
    "server/projections": ("server.queries", "server.api", "server.graphql"),
    "server/queries": ("server.projections", "server.api", "server.graphql"),
    "server/statements": ("server.api", "server.graphql", "server.projections", "server.queries"),
    "server/notifications": ("server.projections", "server.queries", "server.api"),
    "server/maintenance": ("server.api", "server.graphql", "server.projections", "server.queries"),
    "cdc": ("server", "client", "infra"),
    "client": ("runtime", "server", "cdc", "infra"),
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from server import domain` imports server.domain
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in OURS}


def violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    own = folder.replace("/", ".")
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            if module == own or module.startswith(own + "."):
                continue
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    return bad


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_point_inwards(folder: str) -> None:
    assert (ROOT / folder).is_dir(), f"{folder} is gone: update FORBIDDEN"
    assert violations(folder, FORBIDDEN[folder]) == []


def test_the_rule_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from server.queries import history\n")
    assert "server.queries" in imported_modules(module)
