"""Every BANK_* variable the deployment sets is one the processes read: a
Settings field (server/settings.py) or a variable a process reads itself."""

from __future__ import annotations

import re
from typing import Any

from runtime.settings import Settings
from tests.infra.conftest import COMPOSE, DOCKER, K8S, load_yaml_docs

# Read outside Settings, or still to be added there (see infra/README.md).
READ_ELSEWHERE = {
    "BANK_API_URL": "python -m client (--api-url default)",
}
APP_SERVICES = ("api", "cdc", "projections", "client", "migrate")


def settings_vars() -> set[str]:
    return set(Settings.env_names())


def _dockerfile_vars() -> list[tuple[str, str]]:
    return [
        (var, path.name)
        for path in DOCKER.glob("*.Dockerfile")
        for block in re.findall(r"^ENV\s+((?:.*\\\n)*.*)$", path.read_text(), re.M)
        for var in re.findall(r"\b(BANK_[A-Z0-9_]+)=", block)
    ]


def _compose_vars() -> list[tuple[str, str]]:
    services = next(load_yaml_docs(COMPOSE))["services"]
    return [
        (var, f"compose:{name}")
        for name in APP_SERVICES
        for var in services[name].get("environment", {})
    ]


def _k8s_doc_vars(doc: dict[str, Any]) -> list[tuple[str, str]]:
    if doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == "bank-config":
        return [(var, "configmap") for var in doc["data"]]
    if doc.get("kind") == "Deployment":
        pod = doc["spec"]["template"]["spec"]
        return [
            (env["name"], doc["metadata"]["name"])
            for c in pod.get("initContainers", []) + pod["containers"]
            for env in c.get("env", [])
        ]
    return []


def deployment_vars() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    k8s = [
        pair
        for path in K8S.rglob("*.yaml")
        for doc in load_yaml_docs(path)
        for pair in _k8s_doc_vars(doc)
    ]
    for var, where in _dockerfile_vars() + _compose_vars() + k8s:
        if var.startswith("BANK_"):
            found.setdefault(var, set()).add(where)
    return found


def test_every_bank_variable_set_by_the_deployment_is_read() -> None:
    known = settings_vars() | set(READ_ELSEWHERE)
    used = deployment_vars()
    assert len(used) >= 10
    unknown = {var: sorted(where) for var, where in used.items() if var not in known}
    assert not unknown, (
        f"BANK_* variables nothing reads (typo, or a Settings field missing): {unknown}"
    )


def test_processes_get_the_urls_they_connect_to() -> None:
    services = next(load_yaml_docs(COMPOSE))["services"]
    for name in ("api", "cdc", "projections", "migrate"):
        env = services[name]["environment"]
        assert {"BANK_DATABASE_URL", "BANK_ADMIN_DATABASE_URL", "BANK_KAFKA_BOOTSTRAP"} <= set(
            env
        ), name
    assert "BANK_REDIS_URL" in services["api"]["environment"]
    assert "BANK_JWT_SECRET" in services["api"]["environment"]
