"""The customer app carries only its own dependencies: everything client/ imports
(and the shared/ modules it uses) comes from the `client` extra of pyproject.toml,
nothing of the servers is imported, and the extra holds nothing the app does not use."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"client", "shared", "server", "cdc", "runtime", "infra", "bench", "tests", "e2e"}
ALLOWED_OURS = {"client", "shared"}
# In the extra without being imported: flet loads them itself for a mode of running.
RUNTIME_ONLY = {
    "flet-web": "serves the app to browsers (python -m client --web)",
    "flet-desktop": "the desktop window runner (python -m client)",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def client_extra() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["optional-dependencies"]["client"]
    return {_normalise(re.split(r"[\[=<>!~ ;]", r, maxsplit=1)[0]) for r in reqs}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def client_imports() -> tuple[set[str], set[str]]:
    """(third-party top-level modules, modules of ours) reachable from client/."""
    todo = list((ROOT / "client").rglob("*.py"))
    seen: set[Path] = set()
    third, ours = set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            top = module.split(".")[0]
            if top in OURS:
                ours.add(module)
                f = _module_file(module)
                if f is not None and top in ALLOWED_OURS:
                    todo.append(f)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return third, ours


def test_client_imports_nothing_of_the_servers() -> None:
    _, ours = client_imports()
    outside = sorted(m for m in ours if m.split(".")[0] not in ALLOWED_OURS)
    assert outside == [], f"client/ reaches server-side code: {outside}"


def test_every_package_the_client_imports_is_in_the_client_extra() -> None:
    third, _ = client_imports()
    dists = packages_distributions()
    extra = client_extra()
    missing = {}
    for top in sorted(third):
        names = {_normalise(d) for d in dists.get(top, [top])}
        if not names & extra:
            missing[top] = sorted(names)
    assert missing == {}, f"imported by client/ but not in the `client` extra: {missing}"


def test_the_client_extra_holds_only_what_the_client_uses() -> None:
    third, _ = client_imports()
    dists = packages_distributions()
    used = {_normalise(d) for top in third for d in dists.get(top, [top])}
    unused = sorted(client_extra() - used - set(RUNTIME_ONLY))
    assert unused == [], f"in the `client` extra but never imported by client/: {unused}"
