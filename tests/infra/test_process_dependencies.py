"""Each process's image installs its own extra (pyproject.toml): it must provide
every third-party package the process imports, and carry nothing it never loads.

A static check over the import statements (see process_imports.py): building a
fresh virtualenv per extra would take minutes on this machine.
"""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement

from tests.infra.conftest import DOCKER
from tests.infra.process_imports import (
    _norm,
    closure,
    distributions_of,
    extra_requirements,
    project,
    third_party_imports,
)

# extra -> the modules its image runs.
PROCESSES = {
    "api": [
        "server.api.__main__",
        "server.api.app",
        "server.adapters.migrations",
        "server.scheduler.__main__",
        "server.maintenance.__main__",  # run in an API pod (kubectl exec)
    ],
    "cdc": ["cdc.__main__"],
    "projections": ["server.projections.__main__", "server.notifications.__main__"],
    "client": ["client.__main__"],
}
# Loaded by name at run time, not by an import statement: uvicorn's loop, http and
# ws implementations (server/api/__main__.py), psycopg2's driver for piccolo, aiokafka's
# zstd codec (runtime/kafka.py COMPRESSION).
LOADED_BY_NAME = {
    "uvloop",
    "httptools",
    "websockets",
    "cryptography",
    "flet-web",
    "flet-desktop",
    "cramjam",
}
IMAGES = {"api": "api", "cdc": "cdc", "projections": "projections", "client": "client"}


@pytest.mark.parametrize("extra", PROCESSES)
def test_the_extra_provides_everything_its_process_imports(extra: str) -> None:
    provided = closure(extra_requirements(extra))
    missing = {
        module: sorted(importers)[:3]
        for module, importers in third_party_imports(PROCESSES[extra]).items()
        if not distributions_of(module) & provided
    }
    assert not missing, f"[{extra}] imports packages its extra does not install: {missing}"


@pytest.mark.parametrize("extra", ["api", "cdc", "projections"])
def test_the_extra_installs_nothing_its_process_never_loads(extra: str) -> None:
    imported: set[str] = set()
    for module in third_party_imports(PROCESSES[extra]):
        imported |= distributions_of(module)
    direct = {_norm(Requirement(r).name) for r in extra_requirements(extra)}
    unused = direct - imported - LOADED_BY_NAME
    assert not unused, f"[{extra}] installs what its process never imports: {sorted(unused)}"


def test_no_server_image_carries_the_client_ui_nor_the_client_the_servers() -> None:
    for extra in ("api", "cdc", "projections"):
        assert "flet" not in closure(extra_requirements(extra)), extra
    client = closure(extra_requirements("client"))
    assert not {"asyncpg", "aiokafka", "litestar", "psycopg2-binary"} & client


def test_dev_installs_every_extra() -> None:
    dev = " ".join(project()["optional-dependencies"]["dev"])
    for extra in project()["optional-dependencies"]:
        if extra not in ("dev", "observability"):
            assert f"modern-banking-platform[{extra}]" in dev, extra


@pytest.mark.parametrize("extra", IMAGES)
def test_each_dockerfile_installs_its_extra(extra: str) -> None:
    text = (DOCKER / f"{IMAGES[extra]}.Dockerfile").read_text()
    assert re.search(rf"pip install [^\n]*\"?\.\[{extra}\]\"?", text), (
        f"{IMAGES[extra]}.Dockerfile should `pip install '.[{extra}]'`"
    )
