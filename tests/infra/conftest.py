"""Static checks of the production deployment under infra/ (no servers needed).

Tools: promtool (Debian package `prometheus`), kubernetes-validate, yamllint and
python-hcl2 (the `infra` extra), checkov (its own venv under .venv-tools/, see
infra/tools/install-checkov.sh).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
K8S = INFRA / "k8s"
PROMETHEUS = INFRA / "prometheus"
GRAFANA = INFRA / "grafana"
COMPOSE = INFRA / "compose" / "docker-compose.yml"
DOCKER = INFRA / "docker"
TERRAFORM = INFRA / "terraform"

PROCESSES = ("api", "cdc", "projections", "client")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker("infra")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "infra: static checks of infra/ (no servers)")


def load_yaml_docs(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            yield doc


def k8s_manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object under infra/k8s (kustomization files excluded)."""
    out = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out.extend((path, doc) for doc in load_yaml_docs(path))
    return out


def metrics_contract() -> dict[str, Any]:
    return yaml.safe_load((PROMETHEUS / "metrics-contract.yml").read_text())
