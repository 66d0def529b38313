"""The Helm chart (infra/helm/bank): lint clean in strict mode, rendered with the
default and the production values, every object valid against the Kubernetes
schemas, and the same workloads as the kustomize base.

Two sources, kept equal by test_the_chart_and_the_kustomize_base_deploy_the_same_workloads:
the kustomize base stays plain YAML that `kubectl apply -k`, checkov and a reviewer
read without a Helm engine; the chart is what releases are installed with (values
per environment, hooks, optional ELK).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import INFRA, K8S, k8s_manifests

helm_python = pytest.importorskip("helm_python", reason="pip install '.[infra]' (helm-python-sdk)")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

CHART = INFRA / "helm" / "bank"
VALUES = {
    "default": {},
    "production": yaml.safe_load((CHART / "values-production.yaml").read_text()),
}
K8S_VERSIONS = ("1.30.0", "1.37.0")
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    out = helm_python.Chart.load(str(CHART)).render(values, name="bank", namespace="bank")
    docs = []
    for path, text in out.items():
        if path.endswith("NOTES.txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The bank's own objects of a kind (not those of the optional ELK subchart)."""
    return {
        d["metadata"]["name"]: d
        for d in docs
        if d["kind"] == kind
        and d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "bank"
    }


def test_lint_is_clean_in_strict_mode() -> None:
    report = helm_python.lint(str(CHART), strict=True, with_subcharts=True)
    assert report["errors"] == [] and report["messages"] == [], report


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("values", VALUES)
def test_every_rendered_object_is_valid_kubernetes(values: str, version: str) -> None:
    docs = render(VALUES[values])
    assert len(docs) >= 30
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            assert doc["spec"]["endpoints"][0]["path"] == "/metrics"
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{values}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def _workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deployment name -> what it runs: image name, command, ports, probes, strategy."""
    out = {}
    for name, dep in by_kind(docs, "Deployment").items():
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        out[name] = {
            "image": c["image"].rsplit("/", 1)[1].split(":")[0].split("@")[0],
            "command": c.get("command"),
            "ports": sorted((p["name"], p["containerPort"]) for p in c.get("ports", [])),
            "probes": {
                k: c[k]["httpGet"]["path"]
                for k in ("startupProbe", "livenessProbe", "readinessProbe")
                if k in c
            },
            "strategy": dep["spec"]["strategy"]["type"],
            "secrets": sorted(
                (
                    e["name"],
                    e["valueFrom"]["secretKeyRef"]["key"],
                    e["valueFrom"]["secretKeyRef"].get("optional", False),
                )
                for e in c.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            ),
        }
    return out


def test_the_chart_and_the_kustomize_base_deploy_the_same_workloads() -> None:
    base = [d for p, d in k8s_manifests() if p.parent == K8S / "base"]
    chart, kustomize = _workloads(render({})), _workloads(base)
    assert sorted(chart) == sorted(kustomize)
    for name in chart:
        assert chart[name] == kustomize[name], name
    # One difference by design: the chart migrates in a pre-install/pre-upgrade hook
    # Job (with its own NetworkPolicy), the base in the API pods' init container.
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"):
        chart_names = {d["metadata"]["name"] for d in render({}) if d["kind"] == kind}
        base_names = {d["metadata"]["name"] for d in base if d["kind"] == kind}
        assert chart_names - {"bank-migrate"} == base_names, kind
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in by_kind(base, "HorizontalPodAutoscaler").values()
    }
    chart_hpas = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in by_kind(render({}), "HorizontalPodAutoscaler").values()
    }
    assert hpas == chart_hpas


@pytest.mark.parametrize("values", VALUES)
def test_release_invariants(values: str) -> None:
    docs = render(VALUES[values])
    deployments = by_kind(docs, "Deployment")
    cdc = deployments["bank-cdc"]["spec"]
    assert cdc["replicas"] == 1 and cdc["strategy"]["type"] == "Recreate"
    for dep in ("bank-cdc", "bank-projections", "bank-notifications", "bank-scheduler"):
        (c,) = deployments[dep]["spec"]["template"]["spec"]["containers"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/health"  # stalled -> restarted
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in by_kind(docs, "HorizontalPodAutoscaler").values()
    }
    assert "bank-cdc" not in hpas
    lag = [m for m in hpas["bank-projections"]["spec"]["metrics"] if m["type"] == "External"]
    assert lag[0]["external"]["metric"]["name"] == "bank_projection_consumer_lag"
    for name in hpas:  # the HPA owns the replica count
        assert "replicas" not in deployments[name]["spec"], name
    assert set(by_kind(docs, "PodDisruptionBudget")) == set(deployments)
    assert set(by_kind(docs, "ServiceMonitor")) == {
        "bank-api",
        "bank-cdc",
        "bank-projections",
        "bank-notifications",
        "bank-scheduler",
    }
    assert not by_kind(docs, "Secret"), "secrets are referenced, never rendered"
    job = by_kind(docs, "Job")["bank-migrate"]
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert hooks == ["pre-install", "pre-upgrade"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == (
        "server.adapters.migrations"
    )


def test_production_pins_digests_and_connects_to_kafka_over_sasl_ssl() -> None:
    docs = render(VALUES["production"])
    for dep in by_kind(docs, "Deployment").values():
        for c in dep["spec"]["template"]["spec"]["containers"]:
            assert "@sha256:" in c["image"], c["image"]
    config = by_kind(docs, "ConfigMap")["bank-config"]["data"]
    from runtime.settings import Settings

    env = {k: v for k, v in config.items() if k.startswith("BANK_")}
    env |= {"BANK_KAFKA_SASL_USERNAME": "bank-cdc", "BANK_KAFKA_SASL_PASSWORD": "from-the-secret"}
    settings = Settings.from_env(env)
    from runtime import kafka

    assert kafka.admin_kwargs(settings.kafka)["security_protocol"] == "SASL_SSL"  # or raises
    assert (
        "sslmode=verify-full"
        in Settings.from_env({**env, "BANK_DATABASE_URL": "postgresql://u@rds/bank"}).database_url
    )


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"components": {"cdc": {"replicas": 2}}}, "/components/cdc/replicas"),
        ({"config": {"BANK_JWT_SECRET": "x"}}, "/config"),
        ({"image": {"digests": {"api": "latest"}}}, "/image/digests/api"),
    ],
)
def test_the_values_schema_refuses_what_would_break_a_release(
    values: dict[str, Any], says: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=says):
        render(values)


def test_every_variable_the_chart_sets_is_one_a_process_reads() -> None:
    from runtime.settings import Settings

    known = set(Settings.env_names()) | {"BANK_API_URL"}
    for values in VALUES.values():
        docs = render(values)
        names = set(by_kind(docs, "ConfigMap")["bank-config"]["data"])
        for dep in [*by_kind(docs, "Deployment").values(), *by_kind(docs, "Job").values()]:
            for c in dep["spec"]["template"]["spec"]["containers"]:
                names |= {e["name"] for e in c.get("env", [])}
        unknown = {n for n in names if n.startswith("BANK_")} - known
        assert not unknown, unknown


def test_elk_is_an_optional_dependency_with_the_repository_s_configs() -> None:
    assert not [
        d
        for d in render({})
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "bank-elk"
    ]
    docs = render(VALUES["production"])
    elk = {
        (d["kind"], d["metadata"]["name"]): d
        for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "bank-elk"
    }
    assert {
        ("StatefulSet", "elasticsearch"),
        ("Deployment", "kibana"),
        ("DaemonSet", "bank-filebeat"),
        ("Job", "bank-elk-setup"),
    } <= set(elk)
    files = CHART / "charts" / "elk" / "files"
    filebeat = elk[("ConfigMap", "bank-filebeat")]["data"]["filebeat.yml"]
    assert filebeat.strip() == (files / "filebeat.yml").read_text().strip()
    setup = elk[("ConfigMap", "bank-elk-setup")]["data"]
    for name in (
        "index-template.json",
        "ingest-pipeline.json",
        "kibana-saved-objects.ndjson",
        "setup.sh",
    ):
        assert setup[name].strip() == (files / name).read_text().strip()
    assert isinstance(CHART, Path) and (CHART / "values.schema.json").is_file()
